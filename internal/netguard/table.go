package netguard

// lru is a map holding at most max entries: inserting into a full table
// forgets the least recently used entry. It is what keeps every per-client
// table of this package bounded, whatever the number of addresses or ids
// an attacker uses.
//
// Concurrency: none; its owner locks.
type lru[K comparable, V any] struct {
	max        int
	m          map[K]*lruNode[K, V]
	head, tail *lruNode[K, V] // head: most recently used
	free       *lruNode[K, V] // one recycled node
}

type lruNode[K comparable, V any] struct {
	key        K
	val        V
	prev, next *lruNode[K, V]
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, m: make(map[K]*lruNode[K, V])}
}

// get returns k's value (marking it used), or nil.
func (t *lru[K, V]) get(k K) *V {
	n := t.m[k]
	if n == nil {
		return nil
	}
	t.front(n)
	return &n.val
}

// put returns k's value, inserting a zero value (and forgetting the least
// recently used entry when full) if k is absent; fresh says which.
func (t *lru[K, V]) put(k K) (v *V, fresh bool) {
	if n := t.m[k]; n != nil {
		t.front(n)
		return &n.val, false
	}
	if len(t.m) >= t.max && t.tail != nil {
		t.remove(t.tail.key)
	}
	n := t.free
	if n != nil {
		t.free = nil
		var zero V
		n.val = zero
	} else {
		n = &lruNode[K, V]{}
	}
	n.key = k
	t.m[k] = n
	t.link(n)
	return &n.val, true
}

// remove forgets k.
func (t *lru[K, V]) remove(k K) {
	n := t.m[k]
	if n == nil {
		return
	}
	delete(t.m, k)
	t.unlink(n)
	var zk K
	n.key = zk
	t.free = n
}

func (t *lru[K, V]) len() int { return len(t.m) }

func (t *lru[K, V]) front(n *lruNode[K, V]) {
	if t.head == n {
		return
	}
	t.unlink(n)
	t.link(n)
}

func (t *lru[K, V]) link(n *lruNode[K, V]) {
	n.prev, n.next = nil, t.head
	if t.head != nil {
		t.head.prev = n
	}
	t.head = n
	if t.tail == nil {
		t.tail = n
	}
}

func (t *lru[K, V]) unlink(n *lruNode[K, V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		t.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		t.tail = n.prev
	}
	n.prev, n.next = nil, nil
}
