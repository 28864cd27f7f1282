package deploy_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// nonComment is s without its comment lines and blank lines, each line
// trimmed: what nginx reads of a config.
func nonComment(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// checkOnlySidecar checks a jwtrevoke --check-only container: flags serve
// has, the read-only NATS user, and probes on its port. It returns the
// port it listens on.
func checkOnlySidecar(t *testing.T, where string, ctr any, users map[string]user, natsPort int) string {
	t.Helper()
	args := list(ctr, "args")
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("%s: args %v, want serve …", where, args)
	}
	serveFlagsDefined(t, where, args[1:])
	if !slices.Contains(args, any("--check-only")) {
		t.Errorf("%s: no --check-only: a sidecar in every API pod would hold publisher rights", where)
	}
	if lt := flagValue(args, "max-lifetime"); lt != "24h" {
		t.Errorf("%s: --max-lifetime %q, want jwtrevoke-serve.yaml's 24h", where, lt)
	}
	port := listenPort(t, where, flagValue(args, "listen"))
	secrets := map[string]map[string]string{}
	for _, s := range yamlDocs(t, filepath.Join("k8s", "secrets.example.yaml")) {
		secrets[str(s, "metadata", "name")] = envMap(get(s, "stringData"))
	}
	for _, ef := range list(ctr, "envFrom") {
		sn := str(ef, "secretRef", "name")
		s, ok := secrets[sn]
		if !ok {
			t.Errorf("%s: Secret %s is not in secrets.example.yaml", where, sn)
			continue
		}
		natsURLUsers(t, where+" Secret "+sn, s["NATS_URL"], []string{"nats.jwtrevoke.svc.cluster.local"}, natsPort, "agent", users)
	}
	named := map[string]string{}
	for _, p := range list(ctr, "ports") {
		named[str(p, "name")] = str(p, "containerPort")
	}
	if p := str(ctr, "readinessProbe", "httpGet", "path"); p != "/readyz" || named[str(ctr, "readinessProbe", "httpGet", "port")] != port {
		t.Errorf("%s: readiness probe %s on %q, want /readyz on the listen port %s", where, p, str(ctr, "readinessProbe", "httpGet", "port"), port)
	}
	return port
}

// TestKubernetesSidecar checks deploy/k8s/sidecar.yaml: a read-only
// jwtrevoke native sidecar, nginx running deploy/gateway/nginx.conf (the
// file the gateway tests run) pointed at it and at the API, both on
// loopback, and a Service that reaches only the gateway.
func TestKubernetesSidecar(t *testing.T) {
	o, users := natsConfig(t)
	docs := yamlDocs(t, filepath.Join("k8s", "sidecar.yaml"))
	byKind := map[string]map[string]any{}
	for _, d := range docs {
		byKind[str(d, "kind")] = d
	}
	dep, cm, svc := byKind["Deployment"], byKind["ConfigMap"], byKind["Service"]
	if dep == nil || cm == nil || svc == nil {
		t.Fatalf("sidecar.yaml: want a Deployment, a ConfigMap and a Service, got %v", keys(byKind))
	}
	pod := get(dep, "spec", "template", "spec")
	inits := list(pod, "initContainers")
	if len(inits) != 1 || str(inits[0], "restartPolicy") != "Always" {
		t.Fatal("sidecar.yaml: want jwtrevoke as the one native sidecar (an init container with restartPolicy Always)")
	}
	jwPort := checkOnlySidecar(t, "sidecar.yaml jwtrevoke", inits[0], users, o.Port)

	ctrs := map[string]any{}
	for _, c := range list(pod, "containers") {
		ctrs[str(c, "name")] = c
	}
	gw, api := ctrs["gateway"], ctrs["api"]
	if gw == nil || api == nil {
		t.Fatalf("sidecar.yaml: want containers gateway and api, got %v", keys(ctrs))
	}
	apiAddr := strings.TrimPrefix(envMap(get(api, "env"))["ASPNETCORE_URLS"], "http://")
	if h, _, _ := net.SplitHostPort(apiAddr); h != "127.0.0.1" {
		t.Errorf("the API listens on %q: anything but loopback lets a request past the gateway", apiAddr)
	}
	gwPort := str(gw, "ports", 0, "containerPort")
	tmpl, err := os.ReadFile(filepath.Join("gateway", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer("${LISTEN}", gwPort, "${SIDECAR}", "127.0.0.1:"+jwPort, "${UPSTREAM}", apiAddr).Replace(string(tmpl))
	if got := str(cm, "data", "default.conf"); !slices.Equal(nonComment(got), nonComment(want)) {
		t.Errorf("the ConfigMap's default.conf is not deploy/gateway/nginx.conf for gateway port %s, sidecar 127.0.0.1:%s, API %s:\n%s", gwPort, jwPort, apiAddr, got)
	}
	if mp := str(gw, "volumeMounts", 0, "mountPath"); mp != "/etc/nginx/conf.d" || str(pod, "volumes", 0, "configMap", "name") != str(cm, "metadata", "name") {
		t.Errorf("the gateway does not mount the ConfigMap at /etc/nginx/conf.d (mount %q)", mp)
	}
	if tp := str(svc, "spec", "ports", 0, "targetPort"); tp != str(gw, "ports", 0, "name") {
		t.Errorf("the Service's targetPort %q is not the gateway's port", tp)
	}
	if fmt.Sprint(get(svc, "spec", "selector")) != fmt.Sprint(get(dep, "spec", "template", "metadata", "labels")) {
		t.Error("the Service does not select the Deployment's pods")
	}
}

// TestIngressNginx checks the ingress-nginx recipe: jwtrevoke --check-only
// in the controller's pod, and an Ingress whose auth-url is that
// container's /forward-auth on loopback, passing on every identity header
// /forward-auth answers with.
func TestIngressNginx(t *testing.T) {
	o, users := natsConfig(t)
	values := yamlDocs(t, filepath.Join("k8s", "ingress-nginx-values.yaml"))[0]
	extra := list(values, "controller", "extraContainers")
	if len(extra) != 1 {
		t.Fatal("ingress-nginx-values.yaml: want jwtrevoke as the one extra container")
	}
	port := checkOnlySidecar(t, "ingress-nginx-values.yaml jwtrevoke", extra[0], users, o.Port)
	ing := yamlDocs(t, filepath.Join("k8s", "ingress-nginx.yaml"))[0]
	ann := get(ing, "metadata", "annotations")
	if u := str(ann, "nginx.ingress.kubernetes.io/auth-url"); u != "http://127.0.0.1:"+port+"/forward-auth" {
		t.Errorf("auth-url %q, want the controller pod's jwtrevoke on 127.0.0.1:%s", u, port)
	}
	hs := strings.Split(str(ann, "nginx.ingress.kubernetes.io/auth-response-headers"), ",")
	for _, h := range []string{"X-Auth-Subject", "X-Auth-Session", "X-Auth-Token-Id", "Jwtrevoke-Stale"} {
		if !slices.Contains(hs, h) {
			t.Errorf("auth-response-headers %v lacks %s: a client's own %s would reach the API", hs, h, h)
		}
	}
	for k := range ann.(map[string]any) {
		if strings.Contains(k, "auth-cache") {
			t.Errorf("annotation %s: a cached answer outlives the logout", k)
		}
	}
}

// TestIstio checks deploy/gateway's Istio files against each other and
// against sidecar.yaml: the mesh's provider is the ServiceEntry of the
// pod's own sidecar on loopback, it fails closed, and the CUSTOM policy
// names it and selects sidecar.yaml's pods.
func TestIstio(t *testing.T) {
	mesh := yamlDocs(t, filepath.Join("gateway", "istio-mesh.yaml"))[0]
	provs := list(mesh, "spec", "meshConfig", "extensionProviders")
	if len(provs) != 1 {
		t.Fatal("istio-mesh.yaml: want one extension provider")
	}
	prov := provs[0]
	grpcProv := get(prov, "envoyExtAuthzGrpc")
	if grpcProv == nil {
		t.Fatal("istio-mesh.yaml: the provider is not envoyExtAuthzGrpc")
	}
	if fo, _ := get(grpcProv, "failOpen").(bool); fo {
		t.Error("istio-mesh.yaml: failOpen true lets every token through while the sidecar is down")
	}
	if s := str(grpcProv, "statusOnError"); !strings.HasPrefix(s, "5") {
		t.Errorf("istio-mesh.yaml: statusOnError %q, want a 5xx", s)
	}
	byKind := map[string]map[string]any{}
	for _, d := range yamlDocs(t, filepath.Join("gateway", "istio.yaml")) {
		byKind[str(d, "kind")] = d
	}
	se, ap := byKind["ServiceEntry"], byKind["AuthorizationPolicy"]
	if se == nil || ap == nil {
		t.Fatalf("istio.yaml: want a ServiceEntry and an AuthorizationPolicy, got %v", keys(byKind))
	}
	if h := str(se, "spec", "hosts", 0); h != str(grpcProv, "service") {
		t.Errorf("the provider's service %q is not the ServiceEntry's host %q", str(grpcProv, "service"), h)
	}
	if str(se, "spec", "endpoints", 0, "address") != "127.0.0.1" || str(se, "spec", "ports", 0, "number") != str(grpcProv, "port") || str(se, "spec", "ports", 0, "protocol") != "GRPC" {
		t.Errorf("the ServiceEntry is not the pod's own sidecar on 127.0.0.1:%s over gRPC", str(grpcProv, "port"))
	}
	if str(ap, "spec", "action") != "CUSTOM" || str(ap, "spec", "provider", "name") != str(prov, "name") {
		t.Errorf("the AuthorizationPolicy is %s with provider %q, want CUSTOM with %q", str(ap, "spec", "action"), str(ap, "spec", "provider", "name"), str(prov, "name"))
	}
	var dep map[string]any
	for _, d := range yamlDocs(t, filepath.Join("k8s", "sidecar.yaml")) {
		if str(d, "kind") == "Deployment" {
			dep = d
		}
	}
	labels := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range get(ap, "spec", "selector", "matchLabels").(map[string]any) {
		if labels[k] != v {
			t.Errorf("the AuthorizationPolicy selects %s=%v, which sidecar.yaml's pods lack", k, v)
		}
	}
	if str(ap, "metadata", "namespace") != str(dep, "metadata", "namespace") || str(se, "metadata", "namespace") != str(dep, "metadata", "namespace") {
		t.Error("the Istio objects are not in sidecar.yaml's namespace")
	}
}
