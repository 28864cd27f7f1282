package snapshot

// SetOnListRetry sets the hook called before a listing is made again
// (tests only).
func SetOnListRetry(f func()) { onListRetry = f }
