package natsproc

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// setDeathSignal makes the kernel kill the child if the test process dies,
// so a crashed or killed test run leaves no server behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// The death signal fires when the thread that forked the child exits, not
// the process, so every child is started from one goroutine locked to a
// thread that lives as long as the process.
var starter struct {
	once sync.Once
	reqs chan startReq
}

type startReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startCmd(cmd *exec.Cmd) error {
	starter.once.Do(func() {
		starter.reqs = make(chan startReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive every child
			for r := range starter.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	starter.reqs <- startReq{cmd, done}
	return <-done
}
