package sqlite

import (
	"sync"

	"github.com/regcenter/regcenter"
)

// targetCache keeps BootstrapTarget's answers in memory: the hot path of
// every switch then costs a map read instead of a query through the
// transpiled SQLite engine, whose deep C stacks make each new request
// goroutine grow its stack (that, not the query, was a third of the
// center's CPU per bootstrap).
//
// It is exact, not a time-bounded guess, because an SQLite store has one
// owner (Open takes an exclusive lock on the file): every change goes
// through this DB, and each method that changes a cached answer drops it
// after its commit and before it returns, so a caller that got a 2xx is
// never answered from before its change. A read that raced with a change
// does not fill the cache: gen tells it that something changed meanwhile.
type targetCache struct {
	mu      sync.RWMutex
	gen     uint64
	max     int
	targets map[string]cachedTarget
}

type cachedTarget struct {
	dev      regcenter.Device
	platform regcenter.Platform
}

// defaultCacheSize bounds the memory of the cache: about 300 bytes an entry.
const defaultCacheSize = 200_000

func newTargetCache(max int) *targetCache {
	return &targetCache{max: max, targets: make(map[string]cachedTarget)}
}

// get returns the cached answer for esn, or the generation to give put.
func (c *targetCache) get(esn string) (cachedTarget, bool, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.targets[esn]
	return t, ok, c.gen
}

// put caches an answer read from the database when nothing changed since
// generation gen was seen.
func (c *targetCache) put(esn string, t cachedTarget, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.max <= 0 {
		return
	}
	if len(c.targets) >= c.max {
		// Drop about a tenth, in the map's random order: cheap, and the
		// devices that keep asking come back at once.
		n := c.max / 10
		for k := range c.targets {
			if n <= 0 {
				break
			}
			delete(c.targets, k)
			n--
		}
	}
	c.targets[esn] = t
}

// forget drops the answers for esns.
func (c *targetCache) forget(esns ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, esn := range esns {
		delete(c.targets, esn)
	}
}

// forgetAll drops every answer: a platform's record changed, and with it
// the answer of each of its devices.
func (c *targetCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.targets)
}
