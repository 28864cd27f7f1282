package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"
)

// yamlDocs parses every document of a YAML file into generic values.
func yamlDocs(t *testing.T, file string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// get walks a generic YAML value by keys (map keys, or list indexes as
// numbers) and returns "" / nil when the path does not exist.
func get(v any, keys ...any) any {
	for _, k := range keys {
		switch vv := v.(type) {
		case map[string]any:
			v = vv[fmt.Sprint(k)]
		case []any:
			i, ok := k.(int)
			if !ok || i >= len(vv) {
				return nil
			}
			v = vv[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, keys ...any) string {
	if s, ok := get(v, keys...).(string); ok {
		return s
	}
	if v := get(v, keys...); v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

func list(v any, keys ...any) []any {
	l, _ := get(v, keys...).([]any)
	return l
}

// natsConfig is what the tests compare the other files with: the node
// configs parsed by nats-server.
func natsConfig(t *testing.T) (*server.Options, map[string]user) {
	t.Helper()
	o, err := server.ProcessConfigFile(nodeFiles(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]user{}
	for _, u := range o.Users {
		users[u.Username] = user{u.Username, u.Password, u.Account.Name}
	}
	return o, users
}

// TestEveryNATSConfigParses parses every deploy/nats/*.conf, the included
// files too, with nats-server's own parser.
func TestEveryNATSConfigParses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(natsDir, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("deploy/nats has %d .conf files, want at least the three nodes, cluster.conf and accounts.conf", len(files))
	}
	for _, f := range files {
		if _, err := server.ProcessConfigFile(f); err != nil {
			t.Errorf("server.ProcessConfigFile(%s): %v", f, err)
		}
	}
	tlsFiles, _ := filepath.Glob(filepath.Join(natsDir, "tls", "*.conf"))
	for _, f := range tlsFiles {
		if _, err := conf.ParseFile(f); err != nil { // certificates load in TestClusterTLS
			t.Errorf("conf.ParseFile(%s): %v", f, err)
		}
	}
}

// natsURLUsers checks a comma-separated NATS URL list: every host is one of
// hosts, on port, with the credentials of the user role from accounts.conf.
func natsURLUsers(t *testing.T, where, urls string, hosts []string, port int, role string, users map[string]user) {
	t.Helper()
	if urls == "" {
		t.Errorf("%s: no NATS_URL", where)
		return
	}
	for _, s := range strings.Split(urls, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			t.Errorf("%s: NATS URL %q: %v", where, s, err)
			continue
		}
		if !slices.Contains(hosts, u.Hostname()) || u.Port() != strconv.Itoa(port) {
			t.Errorf("%s: NATS URL host %s, want one of %v on port %d", where, u.Host, hosts, port)
		}
		pw, _ := u.User.Password()
		if u.User.Username() != role || pw != users[role].password {
			t.Errorf("%s: NATS URL user %q with password %q, want the %s user of deploy/nats/accounts.conf", where, u.User.Username(), pw, role)
		}
	}
}

// listenPort returns the port of a host:port flag or variable.
func listenPort(t *testing.T, where, hostport string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Errorf("%s: listen address %q: %v", where, hostport, err)
	}
	return p
}

// flagValue returns the value of --name in args (as --name=v or --name v).
func flagValue(args []any, name string) string {
	for i, a := range args {
		s := fmt.Sprint(a)
		if v, ok := strings.CutPrefix(s, "--"+name+"="); ok {
			return v
		}
		if s == "--"+name && i+1 < len(args) {
			return fmt.Sprint(args[i+1])
		}
	}
	return ""
}

// serveFlagsDefined checks that every --flag in args is a flag of
// jwtrevoke serve: its own (internal/serve) or a global one
// (internal/cli/clitool).
func serveFlagsDefined(t *testing.T, where string, args []any) {
	t.Helper()
	var files []string
	for _, dir := range [][]string{{"internal", "serve"}, {"internal", "cli", "clitool"}} {
		fs, _ := filepath.Glob(filepath.Join(append(append([]string{".."}, dir...), "*.go")...))
		files = append(files, fs...)
	}
	if len(files) == 0 {
		t.Fatal("no source of jwtrevoke serve found")
	}
	var src []byte
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		src = append(src, b...)
	}
	for _, a := range args {
		name, ok := strings.CutPrefix(fmt.Sprint(a), "--")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		if !regexp.MustCompile(`Var[P]?\(&[^,]+, "` + regexp.QuoteMeta(name) + `"`).Match(src) {
			t.Errorf("%s: --%s is not a flag of jwtrevoke serve (internal/serve, internal/cli/clitool)", where, name)
		}
	}
}

// envUsed checks that the example API reads every variable of env.
func envUsed(t *testing.T, where string, env map[string]string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "examples", "cmd", "example-api", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for k := range env {
		if !bytes.Contains(src, []byte(`getenv("`+k+`")`)) {
			t.Errorf("%s: the example API does not read %s", where, k)
		}
	}
}

func envMap(v any) map[string]string {
	out := map[string]string{}
	switch e := v.(type) {
	case map[string]any:
		for k, v := range e {
			out[k] = fmt.Sprint(v)
		}
	case []any: // Kubernetes env: [{name, value}]
		for _, x := range e {
			if n := str(x, "name"); n != "" {
				out[n] = str(x, "value")
			}
		}
	}
	return out
}

// TestComposeFile checks deploy/compose.yaml against the NATS configs the
// cluster test boots, the files it mounts, the Dockerfile targets, the
// jwtrevoke command's flags and the example API's variables.
func TestComposeFile(t *testing.T) {
	o, users := natsConfig(t)
	c := yamlDocs(t, "compose.yaml")[0]
	services, _ := get(c, "services").(map[string]any)
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}

	// Every bind mount exists.
	for name, svc := range services {
		for _, v := range list(svc, "volumes") {
			src, _, _ := strings.Cut(fmt.Sprint(v), ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
		if target := str(svc, "build", "target"); target != "" {
			if !bytes.Contains(dockerfile, []byte(" AS "+target+"\n")) {
				t.Errorf("service %s builds target %q, which deploy/Dockerfile lacks", name, target)
			}
			if df := str(svc, "build", "dockerfile"); str(svc, "build", "context") != ".." || df != "deploy/Dockerfile" {
				t.Errorf("service %s builds %s in %s, want deploy/Dockerfile in ..", name, df, str(svc, "build", "context"))
			}
		}
	}

	// The three nodes run the three node configs, storing where the
	// configs say, checked on their monitoring port.
	var natsHosts []string
	for _, f := range nodeFiles(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".conf")
		natsHosts = append(natsHosts, name)
		svc, ok := services[name]
		if !ok {
			t.Errorf("compose.yaml has no service %s for %s", name, f)
			continue
		}
		cmd := list(svc, "command")
		if len(cmd) != 2 || cmd[0] != "--config" || cmd[1] != "/etc/nats/"+filepath.Base(f) {
			t.Errorf("service %s: command %v, want [--config /etc/nats/%s]", name, cmd, filepath.Base(f))
		}
		vols := fmt.Sprint(list(svc, "volumes"))
		if !strings.Contains(vols, "./nats:/etc/nats:ro") || !strings.Contains(vols, ":"+o.StoreDir) {
			t.Errorf("service %s: volumes %s, want ./nats at /etc/nats and a volume at the store_dir %s", name, vols, o.StoreDir)
		}
		if hc := fmt.Sprint(list(svc, "healthcheck", "test")); !strings.Contains(hc, fmt.Sprintf("localhost:%d/healthz", o.HTTPPort)) {
			t.Errorf("service %s: healthcheck %s, want /healthz on the monitoring port %d", name, hc, o.HTTPPort)
		}
	}
	if ports := fmt.Sprint(list(services["nats-1"], "ports")); !strings.Contains(ports, fmt.Sprintf(":%d", o.Port)) {
		t.Errorf("nats-1 publishes %s, want the client port %d", ports, o.Port)
	}

	// jwtrevoke serve: the publisher user, R3, its flags exist.
	serve := services["jwtrevoke"]
	args := list(serve, "command")
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("service jwtrevoke: command %v, want serve …", args)
	}
	serveFlagsDefined(t, "service jwtrevoke", args[1:])
	if r := flagValue(args, "replicas"); r != "3" {
		t.Errorf("service jwtrevoke: --replicas %q, want 3 (one per node)", r)
	}
	senv := envMap(get(serve, "environment"))
	natsURLUsers(t, "service jwtrevoke", senv["NATS_URL"], natsHosts, o.Port, "publisher", users)
	servePort := listenPort(t, "service jwtrevoke", flagValue(args, "listen"))
	if ports := fmt.Sprint(list(serve, "ports")); !strings.Contains(ports, ":"+servePort) {
		t.Errorf("service jwtrevoke publishes %s, want its --listen port %s", ports, servePort)
	}

	// The API replicas: the agent user, the same key and lifetime.
	for _, name := range []string{"api-1", "api-2"} {
		api, ok := services[name]
		if !ok {
			t.Errorf("compose.yaml has no service %s", name)
			continue
		}
		env := envMap(get(api, "environment"))
		envUsed(t, "service "+name, env)
		natsURLUsers(t, "service "+name, env["NATS_URL"], natsHosts, o.Port, "agent", users)
		if env["JWTREVOKE_HMAC_SECRET"] != senv["JWTREVOKE_HMAC_SECRET"] {
			t.Errorf("service %s verifies tokens with another HMAC secret than jwtrevoke serve", name)
		}
		if l := env["JWTREVOKE_MAX_LIFETIME"]; l != flagValue(args, "max-lifetime") {
			t.Errorf("service %s: JWTREVOKE_MAX_LIFETIME %q, serve --max-lifetime %q: they must agree", name, l, flagValue(args, "max-lifetime"))
		}
		p := listenPort(t, "service "+name, env["LISTEN"])
		if ports := fmt.Sprint(list(api, "ports")); !strings.Contains(ports, ":"+p) {
			t.Errorf("service %s publishes %s, want its LISTEN port %s", name, ports, p)
		}
	}

	// Prometheus: its config's rule file is the mounted alerts file, and it
	// scrapes services that exist on the ports they listen on.
	prom := services["prometheus"]
	mounts := map[string]string{} // container path → host path
	for _, v := range list(prom, "volumes") {
		parts := strings.Split(fmt.Sprint(v), ":")
		if len(parts) >= 2 {
			mounts[parts[1]] = parts[0]
		}
	}
	if mounts["/etc/prometheus/prometheus.yml"] != "./prometheus/prometheus.yml" {
		t.Errorf("prometheus mounts %v, want ./prometheus/prometheus.yml at /etc/prometheus/prometheus.yml", mounts)
	}
	pc := yamlDocs(t, filepath.Join("prometheus", "prometheus.yml"))[0]
	for _, rf := range list(pc, "rule_files") {
		if mounts[fmt.Sprint(rf)] != "./prometheus/alerts.yaml" {
			t.Errorf("prometheus.yml loads %s, which compose does not mount from ./prometheus/alerts.yaml", rf)
		}
	}
	listens := map[string]string{"jwtrevoke": servePort, "api-1": "8080", "api-2": "8080"}
	for _, sc := range list(pc, "scrape_configs") {
		for _, target := range list(sc, "static_configs", 0, "targets") {
			host, port, _ := net.SplitHostPort(fmt.Sprint(target))
			if _, ok := services[host]; !ok || listens[host] != port {
				t.Errorf("prometheus.yml job %s scrapes %s: no compose service listens there", str(sc, "job_name"), target)
			}
		}
	}
}

// TestKubernetesManifests checks deploy/k8s: Deployments with /livez and
// /readyz probes on their listening port, resources, Services and
// PodDisruptionBudgets that select their pods, and Secrets whose NATS URLs
// carry the right users of accounts.conf.
func TestKubernetesManifests(t *testing.T) {
	o, users := natsConfig(t)
	kust := yamlDocs(t, filepath.Join("k8s", "kustomization.yaml"))[0]
	var objs []map[string]any
	for _, r := range list(kust, "resources") {
		f := filepath.Join("k8s", fmt.Sprint(r))
		objs = append(objs, yamlDocs(t, f)...)
	}
	secrets := map[string]map[string]string{}
	for _, s := range yamlDocs(t, filepath.Join("k8s", "secrets.example.yaml")) {
		secrets[str(s, "metadata", "name")] = envMap(get(s, "stringData"))
	}
	byKind := map[string][]map[string]any{}
	for _, obj := range objs {
		byKind[str(obj, "kind")] = append(byKind[str(obj, "kind")], obj)
	}
	if len(byKind["Deployment"]) != 2 {
		t.Fatalf("deploy/k8s has %d Deployments, want jwtrevoke-serve and example-api", len(byKind["Deployment"]))
	}
	matches := func(selector, labels any) bool {
		sel, _ := selector.(map[string]any)
		lab, _ := labels.(map[string]any)
		for k, v := range sel {
			if lab[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	lifetimes := map[string]string{}
	for _, d := range byKind["Deployment"] {
		name := str(d, "metadata", "name")
		podLabels := get(d, "spec", "template", "metadata", "labels")
		if !matches(get(d, "spec", "selector", "matchLabels"), podLabels) {
			t.Errorf("Deployment %s: selector does not match its pod labels", name)
		}
		ctr := get(d, "spec", "template", "spec", "containers", 0)
		args, env := list(ctr, "args"), envMap(get(ctr, "env"))
		var listen string
		if len(args) > 0 {
			serveFlagsDefined(t, "Deployment "+name, args[1:])
			listen = flagValue(args, "listen")
			lifetimes[name] = flagValue(args, "max-lifetime")
			if r := flagValue(args, "replicas"); r != "3" {
				t.Errorf("Deployment %s: --replicas %q, want 3", name, r)
			}
		} else {
			envUsed(t, "Deployment "+name, env)
			listen = env["LISTEN"]
			lifetimes[name] = env["JWTREVOKE_MAX_LIFETIME"]
		}
		port := listenPort(t, "Deployment "+name, listen)
		portNames := map[string]string{}
		for _, p := range list(ctr, "ports") {
			portNames[str(p, "name")] = str(p, "containerPort")
		}
		if portNames["http"] != port {
			t.Errorf("Deployment %s: container port http = %q, want the listen port %s", name, portNames["http"], port)
		}
		for probe, want := range map[string]string{"livenessProbe": "/livez", "readinessProbe": "/readyz", "startupProbe": "/livez"} {
			if p := str(ctr, probe, "httpGet", "path"); p != want {
				t.Errorf("Deployment %s: %s path %q, want %s", name, probe, p, want)
			}
			if pp := str(ctr, probe, "httpGet", "port"); portNames[pp] == "" {
				t.Errorf("Deployment %s: %s port %q is not a container port", name, probe, pp)
			}
		}
		for _, r := range []string{"requests", "limits"} {
			if get(ctr, "resources", r, "memory") == nil {
				t.Errorf("Deployment %s: no memory %s", name, r)
			}
		}
		role := map[string]string{"jwtrevoke-serve": "publisher", "example-api": "agent"}[name]
		for _, ef := range list(ctr, "envFrom") {
			sn := str(ef, "secretRef", "name")
			s, ok := secrets[sn]
			if !ok {
				t.Errorf("Deployment %s: Secret %s is not in secrets.example.yaml", name, sn)
				continue
			}
			natsURLUsers(t, "Secret "+sn, s["NATS_URL"], []string{"nats"}, o.Port, role, users)
		}
		found := map[string]bool{}
		for _, kind := range []string{"Service", "PodDisruptionBudget"} {
			for _, obj := range byKind[kind] {
				sel := get(obj, "spec", "selector")
				if kind == "PodDisruptionBudget" {
					sel = get(sel, "matchLabels")
				}
				if matches(sel, podLabels) {
					found[kind] = true
					if kind == "Service" {
						if tp := str(obj, "spec", "ports", 0, "targetPort"); portNames[tp] == "" {
							t.Errorf("Service %s: targetPort %q is not a port of Deployment %s", str(obj, "metadata", "name"), tp, name)
						}
					}
				}
			}
			if !found[kind] {
				t.Errorf("Deployment %s: no %s selects its pods", name, kind)
			}
		}
	}
	if lifetimes["jwtrevoke-serve"] != lifetimes["example-api"] {
		t.Errorf("max token lifetime: serve %q, example-api %q; they must agree", lifetimes["jwtrevoke-serve"], lifetimes["example-api"])
	}
}

// TestHelmValues checks deploy/helm/nats-values.yaml against deploy/nats:
// three replicas with JetStream on file storage and PVCs, sync_interval
// always, the same limits and route user as cluster.conf, the accounts file
// included from where the Secret is mounted, and the image of compose.
func TestHelmValues(t *testing.T) {
	v := yamlDocs(t, filepath.Join("helm", "nats-values.yaml"))[0]
	clusterConf, err := conf.ParseFile(filepath.Join(natsDir, "cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	o, _ := natsConfig(t)

	for _, c := range []struct {
		keys []any
		want string
	}{
		{[]any{"config", "cluster", "enabled"}, "true"},
		{[]any{"config", "cluster", "replicas"}, "3"},
		{[]any{"config", "cluster", "routeURLs", "user"}, o.Cluster.Username},
		{[]any{"config", "jetstream", "enabled"}, "true"},
		{[]any{"config", "jetstream", "fileStore", "enabled"}, "true"},
		{[]any{"config", "jetstream", "fileStore", "pvc", "enabled"}, "true"},
		{[]any{"config", "jetstream", "merge", "sync_interval"}, "always"},
		{[]any{"config", "jetstream", "merge", "domain"}, o.JetStreamDomain},
		{[]any{"config", "leafnodes", "enabled"}, "true"},
		{[]any{"config", "leafnodes", "port"}, strconv.Itoa(o.LeafNode.Port)},
		{[]any{"config", "leafnodes", "merge", "no_advertise"}, strconv.FormatBool(o.LeafNode.NoAdvertise)},
		{[]any{"config", "monitor", "enabled"}, "true"},
		{[]any{"config", "monitor", "port"}, strconv.Itoa(o.HTTPPort)},
		{[]any{"podDisruptionBudget", "enabled"}, "true"},
	} {
		if got := str(v, c.keys...); got != c.want {
			t.Errorf("nats-values.yaml %v = %q, want %q", c.keys, got, c.want)
		}
	}
	if get(v, "config", "jetstream", "fileStore", "pvc", "size") == nil {
		t.Errorf("nats-values.yaml: no PVC size for the file store")
	}
	for _, probe := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
		if p := str(v, "container", "merge", probe, "httpGet", "path"); !strings.HasPrefix(p, "/healthz") {
			t.Errorf("nats-values.yaml container %s path %q, want /healthz…", probe, p)
		}
	}

	// The limits of cluster.conf, in the chart's merge block.
	merge, _ := get(v, "config", "merge").(map[string]any)
	for k, val := range merge {
		if k == "$include" {
			continue
		}
		raw := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(fmt.Sprint(val), "<<"), ">>"))
		if _, err := strconv.ParseFloat(raw, 64); err != nil && !regexp.MustCompile(`^[0-9]+[A-Za-z]+$`).MatchString(raw) {
			raw = strconv.Quote(raw)
		}
		got, err := conf.Parse(k + ": " + raw)
		if err != nil {
			t.Errorf("nats-values.yaml config.merge.%s = %v: %v", k, val, err)
			continue
		}
		if want, ok := clusterConf[k]; !ok || fmt.Sprint(got[k]) != fmt.Sprint(want) {
			t.Errorf("nats-values.yaml config.merge.%s = %v, cluster.conf has %v", k, got[k], want)
		}
	}
	for _, k := range []string{"max_payload", "max_connections", "write_deadline", "lame_duck_duration"} {
		if _, ok := merge[k]; !ok {
			t.Errorf("nats-values.yaml config.merge has no %s (cluster.conf sets it)", k)
		}
	}

	// accounts.conf: included from the directory the Secret is mounted at.
	inc := str(v, "config", "merge", "$include")
	incDir := path.Dir(path.Join("/etc/nats-config", inc))
	if path.Base(inc) != "accounts.conf" {
		t.Errorf("nats-values.yaml includes %q, want accounts.conf", inc)
	}
	mount := get(v, "container", "patch", 0, "value")
	volume := get(v, "podTemplate", "patch", 0, "value")
	if str(mount, "mountPath") != incDir || str(mount, "name") != str(volume, "name") || str(volume, "secret", "secretName") == "" {
		t.Errorf("nats-values.yaml: accounts.conf included from %s, but the Secret volume %v is mounted as %v", incDir, volume, mount)
	}

	compose := yamlDocs(t, "compose.yaml")[0]
	image := str(compose, "services", "nats-1", "image")
	if tag := str(v, "container", "image", "tag"); !strings.HasSuffix(image, ":"+tag) {
		t.Errorf("nats-values.yaml image tag %q, compose runs %s: keep them the same", tag, image)
	}
}
