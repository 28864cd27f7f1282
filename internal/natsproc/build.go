package natsproc

// The nats-server binary, built from the module's own dependency.

import (
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/gobuild"
)

const serverPackage = "github.com/nats-io/nats-server/v2"

// Binary returns the path of a nats-server binary built from the module's
// own nats-server dependency, building it on the first call. Later calls
// return the same path.
func Binary() (string, error) { return gobuild.Binary(serverPackage) }

// RemoveBinary deletes the binaries built for this process (the server's
// and any other internal/gobuild built). Call it when the process is done
// with every Server (TestMain, after m.Run).
func RemoveBinary() { gobuild.Remove() }

// BuildTime is how long the first Binary call took to build the server.
func BuildTime() time.Duration {
	Binary()
	return gobuild.Took(serverPackage)
}
