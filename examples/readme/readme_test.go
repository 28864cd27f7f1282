package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestREADMEIsThisProgram: every Go block of the top README is a file of
// this directory, byte for byte, so that what a reader pastes compiles
// (go vet ./... in this module compiles the files).
func TestREADMEIsThisProgram(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no Go block")
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources[string(b)] = true
	}
	for i, b := range blocks {
		if !sources[string(b[1])] {
			t.Errorf("README.md Go block %d is not a file of examples/readme as it is: copy the file into the README (or the block into a file here)", i+1)
		}
	}
}
