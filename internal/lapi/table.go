package lapi

// table is an open-addressing hash table (linear probing, backward-shift
// deletion) of pointers, keyed by a field of what they point to. The
// index keeps a million decisions in two of them (by id, by value): a Go
// map of the same pointers costs 38 and 56 bytes per entry there, a table
// 8 bytes per slot at a load of at most 0.75 (0.375 after growing: 11 to
// 21 bytes per entry).
//
// Concurrency: none; the index's lock guards its tables.
type table[K comparable, V comparable] struct {
	slots []V
	n     int
	key   func(V) K
	hash  func(K) uint64
}

const tableMinSize = 16

func newTable[K comparable, V comparable](key func(V) K, hash func(K) uint64) *table[K, V] {
	return &table[K, V]{slots: make([]V, tableMinSize), key: key, hash: hash}
}

// len returns the number of values.
func (t *table[K, V]) len() int { return t.n }

// find returns the slot of k, or the empty slot where it would go.
func (t *table[K, V]) find(k K) (int, bool) {
	var zero V
	mask := len(t.slots) - 1
	i := int(t.hash(k)) & mask
	for {
		v := t.slots[i]
		if v == zero {
			return i, false
		}
		if t.key(v) == k {
			return i, true
		}
		i = (i + 1) & mask
	}
}

// get returns the value with key k.
func (t *table[K, V]) get(k K) (V, bool) {
	i, ok := t.find(k)
	return t.slots[i], ok
}

// put stores v, replacing the value with the same key.
func (t *table[K, V]) put(v V) {
	i, ok := t.find(t.key(v))
	t.slots[i] = v
	if ok {
		return
	}
	t.n++
	if t.n*4 > len(t.slots)*3 {
		t.resize(len(t.slots) * 2)
	}
}

// del removes the value with key k, if any.
func (t *table[K, V]) del(k K) {
	i, ok := t.find(k)
	if !ok {
		return
	}
	var zero V
	mask := len(t.slots) - 1
	// Backward shift: move later values of the probe run into the hole
	// when their home slot does not lie cyclically in (hole, their slot].
	for j := (i + 1) & mask; t.slots[j] != zero; j = (j + 1) & mask {
		home := int(t.hash(t.key(t.slots[j]))) & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = zero
	t.n--
	if len(t.slots) > tableMinSize && t.n*8 < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

func (t *table[K, V]) resize(size int) {
	var zero V
	old := t.slots
	t.slots = make([]V, size)
	mask := size - 1
	for _, v := range old {
		if v == zero {
			continue
		}
		i := int(t.hash(t.key(v))) & mask
		for t.slots[i] != zero {
			i = (i + 1) & mask
		}
		t.slots[i] = v
	}
}
