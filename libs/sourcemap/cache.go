package sourcemap

import (
	"container/list"
	"strings"
	"sync"
)

// Cache holds parsed maps up to a budget of bytes (Map.Size), dropping the
// least recently used first. It is safe for concurrent use. A map larger
// than the whole budget is not kept.
type Cache struct {
	mu     sync.Mutex
	budget int64
	used   int64
	order  *list.List // of *cacheEntry, most recently used first
	items  map[string]*list.Element
}

type cacheEntry struct {
	key  string
	m    *Map
	size int64
}

// NewCache makes a cache of the given budget in bytes.
func NewCache(budget int64) *Cache {
	return &Cache{budget: budget, order: list.New(), items: make(map[string]*list.Element)}
}

// Get is the map cached under key.
func (c *Cache) Get(key string) (*Map, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).m, true
}

// Add caches m under key, evicting the least recently used maps over the
// budget.
func (c *Cache) Add(key string, m *Map) {
	size := m.Size()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.used -= e.Value.(*cacheEntry).size
		c.order.Remove(e)
		delete(c.items, key)
	}
	if size > c.budget {
		return
	}
	c.items[key] = c.order.PushFront(&cacheEntry{key: key, m: m, size: size})
	c.used += size
	for c.used > c.budget {
		e := c.order.Back()
		ce := e.Value.(*cacheEntry)
		c.order.Remove(e)
		delete(c.items, ce.key)
		c.used -= ce.size
	}
}

// Used is the bytes the cached maps hold.
func (c *Cache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// Len is the number of cached maps.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// IsVendor reports whether an original source path is third-party code: in
// node_modules, bower_components or a vendor directory, or webpack's
// bootstrap. Frames from such files are not in-app.
func IsVendor(path string) bool {
	p := "/" + strings.TrimPrefix(strings.ReplaceAll(path, "\\", "/"), "/")
	for _, dir := range []string{"/node_modules/", "/bower_components/", "/vendor/", "/vendors/", ":///~/"} {
		if strings.Contains(p, dir) {
			return true
		}
	}
	return strings.HasPrefix(path, "webpack/bootstrap")
}
