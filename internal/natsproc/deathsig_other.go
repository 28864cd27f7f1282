//go:build !linux

package natsproc

import "os/exec"

func setDeathSignal(*exec.Cmd) {}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
