//go:build !unix

package freeport

import "os"

// lock opens path. Without flock(2) there is no reservation across
// processes here: the port range and the bind check still keep
// kernel-assigned ports away.
func lock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
}
