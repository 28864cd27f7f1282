package demo

// The banner the demo prints once it is ready: where everything is, and a
// shell example that works as pasted.

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
)

// replicaURL is replica r's base URL as printed and reported.
func (d *instance) replicaURL(r *replica) string { return "http://" + urlHost(r.addr) }

// urlHost turns a listen address into a host:port for a URL: an
// unspecified host becomes 127.0.0.1.
func urlHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (d *instance) printBanner(out io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "\njwtrevoke demo: real logout for JWTs\n\n")
	fmt.Fprintf(&b, "  Web page         %s/\n", d.issuerURL)
	for _, r := range d.reps {
		fmt.Fprintf(&b, "  Replica %-2d       %s/api/whoami\n", r.n, d.replicaURL(r))
	}
	// The shell verbs find the embedded server at its default address.
	jr := "jwtrevoke"
	if d.natsURL != clitool.DefaultServer {
		jr += " --server " + clitool.RedactURLs(d.natsURL)
	}
	if d.g.Stream != jwtrevoke.DefaultStream {
		jr += " --stream " + d.g.Stream
	}
	fmt.Fprintf(&b, "  NATS             %s   (stream %s)\n", clitool.RedactURLs(d.natsURL), d.g.Stream)
	fmt.Fprintf(&b, "  Watch events     %s watch\n", jr)
	fmt.Fprintf(&b, "  Stream status    %s status\n", jr)
	fmt.Fprintf(&b, "  RFC 7009/7662    POST %s/revoke, %s/introspect\n", d.issuerURL, d.issuerURL)
	fmt.Fprintf(&b, "  Client           id %s  secret %s\n", d.clientID, d.clientSecret)
	fmt.Fprintf(&b, "  Users            %s\n", userList())
	if d.tmpDir != "" {
		fmt.Fprintf(&b, "  Store            %s (removed at exit)\n", d.tmpDir)
	} else if d.cfg.data != "" {
		fmt.Fprintf(&b, "  Store            %s\n", d.cfg.data)
	}
	fmt.Fprintf(&b, "\nTry it from a shell: log in as alice (the answer's access_token is her JWT),\ncall a replica with it, log her out everywhere, call again:\n")
	fmt.Fprintf(&b, "  TOKEN=$(curl -s -X POST %s/login -d '{\"username\":\"alice\",\"password\":\"alice\"}' | %s)\n", d.issuerURL, tokenSed)
	if len(d.reps) > 0 {
		fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $TOKEN\" %s/api/whoami\n", d.replicaURL(d.reps[0]))
		fmt.Fprintf(&b, "  %s revoke subject alice --reason demo\n", jr)
		fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $TOKEN\" %s/api/whoami   # now 401\n", d.replicaURL(d.reps[0]))
	}
	fmt.Fprintf(&b, "\nReady. Ctrl-C stops everything.\n")
	_, _ = io.WriteString(out, b.String())
}

// tokenSed takes the access_token out of the issuer's JSON answer to
// a login, in the banner's shell example (sed, which every shell has; jq
// may not be installed).
const tokenSed = `sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'`

func userList() string {
	var s []string
	for _, u := range users {
		s = append(s, u+"/"+u)
	}
	return strings.Join(s, ", ")
}
