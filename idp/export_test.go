package idp

// ReplayCacheLen is the number of jtis h remembers (tests).
func ReplayCacheLen(h *BackchannelLogout) int { return h.replay.size() }
