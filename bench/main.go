// Command bench measures jwtrevoke side by side with what its users would
// pick instead — a Redis denylist, a map under a lock, raw NATS — and prints
// one markdown table of figures, their comparisons and ratios, all from one
// run, so the ratios hold on a noisy shared machine.
//
//	go run . [--quick | --smoke] [--out results.json] [--md results.md] [--seed N] [--only check,memory]
//
// The scenarios (see README.md): check cost, per-request cost through the
// middleware and over HTTP, propagation to N agents, catch-up of a new
// agent, memory per live revocation, and publish throughput. Every loop is
// bounded in count and time; servers (an embedded nats-server, and
// redis-server when it is installed) listen on loopback only and are
// stopped before the command exits.
//
// The module is nested so that go-redis and other comparison-only
// dependencies stay out of what a library user downloads.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"
)

func main() {
	// testing.Benchmark reads the testing package's flags (benchtime):
	// register them so run can set them.
	testing.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command: it parses args, runs the chosen scenarios,
// prints the markdown report to stdout and progress to stderr, and returns
// the exit code: 0 when every scenario ran (whether or not its targets were
// met), 1 when a scenario failed, 2 on bad arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "smaller counts: under 2 minutes on 2 cores")
	smoke := fs.Bool("smoke", false, "tiny counts for CI: proves the harness works, figures mean little")
	out := fs.String("out", "results.json", "write the results as JSON to this file (empty: don't)")
	md := fs.String("md", "", "also write the markdown report to this file")
	seed := fs.Uint64("seed", 20260101, "random seed for keys and orders (fixed, printed)")
	only := fs.String("only", "", "comma-separated scenarios to run: "+strings.Join(scenarioKeys(), ","))
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	serverProfiles := fs.String("server-profiles", "", "write CPU profiles of the NATS servers (scenarios fanout and regions, after their timed runs) to this directory")
	redisBin := fs.String("redis-server", "redis-server", `redis-server binary (looked up in PATH); "none" skips the Redis comparisons`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *quick && *smoke {
		fmt.Fprintln(stderr, "bench: --quick and --smoke exclude each other")
		return 2
	}
	p := fullPlan()
	switch {
	case *quick:
		p = quickPlan()
	case *smoke:
		p = smokePlan()
	}
	chosen, err := chooseScenarios(*only)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if f := flag.Lookup("test.benchtime"); f != nil {
		if err := f.Value.Set(p.benchtime.String()); err != nil {
			fmt.Fprintln(stderr, "bench: setting benchtime:", err)
			return 2
		}
	} else {
		fmt.Fprintln(stderr, "bench: the testing flags are not registered (call testing.Init first)")
		return 2
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}

	e := &env{plan: p, seed: *seed, log: newProgress(stderr), profiles: *serverProfiles}
	defer e.cleanup()
	rep := &report{
		Mode:    p.name,
		Command: "go run . " + strings.Join(args, " "),
		Seed:    *seed,
		Started: time.Now().UTC(),
		Machine: readMachine(),
	}
	e.log.printf("jwtrevoke bench, %s mode, seed %d, load average %s", p.name, *seed, rep.Machine.LoadStart)

	if err := e.startRedis(*redisBin); err != nil {
		e.log.printf("%v", err)
		rep.Notes = append(rep.Notes, err.Error())
	}
	if e.redis != nil {
		rep.Machine.Redis = e.redis.version
	}

	failed := false
	for i, s := range chosen {
		if ctx.Err() != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: interrupted", s.key))
			failed = true
			break
		}
		e.log.setStage(fmt.Sprintf("[%d/%d %s]", i+1, len(chosen), s.key))
		e.log.printf("start: %s", s.title)
		t0 := time.Now()
		rows, notes, err := runScenario(ctx, e, s)
		rep.Rows = append(rep.Rows, rows...)
		rep.Notes = append(rep.Notes, notes...)
		rep.Timings = append(rep.Timings, timing{Scenario: s.key, Seconds: time.Since(t0).Seconds()})
		if err != nil {
			e.log.printf("FAILED after %.1fs: %v", time.Since(t0).Seconds(), err)
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", s.key, err))
			failed = true
			continue
		}
		e.log.printf("done in %.1fs", time.Since(t0).Seconds())
	}
	e.log.setStage("")
	rep.finish()

	text := rep.markdown()
	fmt.Fprint(stdout, text)
	if *md != "" {
		if err := os.WriteFile(*md, []byte(text), 0o644); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			failed = true
		}
	}
	if *out != "" {
		if err := rep.writeJSON(*out); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			failed = true
		} else {
			e.log.printf("wrote %s", *out)
		}
	}
	e.log.printf("finished in %s; %d of %d targets met, %d missed, %d skipped",
		time.Since(rep.Started).Round(time.Second), rep.Summary.Met, rep.Summary.Targets, rep.Summary.Missed, rep.Summary.Skipped)
	if failed {
		return 1
	}
	return 0
}

// runScenario runs one scenario, turning a panic into an error so the
// report still gets written and the servers still get stopped.
func runScenario(ctx context.Context, e *env, s scenario) (rows []Row, notes []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	sc := &scenarioRun{env: e, key: s.key}
	defer sc.close()
	err = s.run(ctx, sc)
	return sc.rows, sc.notes, err
}
