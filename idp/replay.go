package idp

import (
	"container/heap"
	"sync"
	"time"
)

// replayCache remembers token IDs until they expire, at most max of them:
// when it is full, the one that expires first is forgotten first (a token
// that old is the least likely to come back, and nothing else may grow).
// Only tokens whose signature verified are ever added.
type replayCache struct {
	mu    sync.Mutex
	max   int
	until map[string]time.Time // id → when it may be forgotten
	order expiryHeap
	now   func() time.Time
}

func newReplayCache(max int, now func() time.Time) *replayCache {
	return &replayCache{max: max, until: make(map[string]time.Time), now: now}
}

// reserve adds id, to be remembered until until, and reports false if it
// is already there (a replay).
func (c *replayCache) reserve(id string, until time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if u, ok := c.until[id]; ok && u.After(now) {
		return false
	}
	for len(c.order) > 0 && (!c.order[0].until.After(now) || len(c.until) >= c.max) {
		e := heap.Pop(&c.order).(expiry)
		if u, ok := c.until[e.id]; ok && u.Equal(e.until) {
			delete(c.until, e.id)
		}
	}
	c.until[id] = until
	heap.Push(&c.order, expiry{id, until})
	if len(c.order) > 2*c.max {
		// Entries of released ids pile up: rebuild from the live ones.
		c.order = c.order[:0]
		for k, u := range c.until {
			c.order = append(c.order, expiry{k, u})
		}
		heap.Init(&c.order)
	}
	return true
}

// release forgets id, reserved by a request that then failed, so that
// the provider's retry is not taken for a replay.
func (c *replayCache) release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.until, id) // its heap entry is skipped when it comes up
}

// size is the number of ids remembered.
func (c *replayCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.until)
}

type expiry struct {
	id    string
	until time.Time
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
