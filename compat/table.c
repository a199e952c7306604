/* table.c — the shim's open-addressing map (see compat.h): linear probing
 * on a power-of-two array, grown at 50% load, with backward-shift deletion
 * so no tombstones are needed.  Callers hold compat_lock. */
#include "compat.h"

#include <stdlib.h>

static size_t
slot_of(const struct compat_map *m, uintptr_t key)
{
	uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15u;

	return (size_t)(h >> 32) & (m->cap - 1);
}

static struct compat_slot *
slots_new(bool gc, size_t cap)
{
	size_t bytes = cap * sizeof(struct compat_slot);

	return gc ? mgc_alloc(bytes) : calloc(1, bytes);
}

static void
slots_drop(bool gc, struct compat_slot *s)
{
	if (gc)
		mgc_free(s);
	else
		free(s);
}

static void
insert_fresh(struct compat_map *m, uintptr_t key, void *val)
{
	size_t i = slot_of(m, key);

	while (m->slots[i].key != 0)
		i = (i + 1) & (m->cap - 1);
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->n++;
}

static int
grow(struct compat_map *m)
{
	struct compat_slot *old = m->slots;
	size_t oldcap = m->cap, cap = oldcap ? oldcap * 2 : 64;
	struct compat_slot *s = slots_new(m->gc, cap);

	if (s == NULL)
		return -1;
	m->slots = s;
	m->cap = cap;
	m->n = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key != 0)
			insert_fresh(m, old[i].key, old[i].val);
	if (old != NULL)
		slots_drop(m->gc, old);
	return 0;
}

struct compat_slot *
compat_map_find(struct compat_map *m, uintptr_t key)
{
	if (m->cap == 0)
		return NULL;
	for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].key == key)
			return &m->slots[i];
		if (m->slots[i].key == 0)
			return NULL;
	}
}

int
compat_map_put(struct compat_map *m, uintptr_t key, void *val)
{
	struct compat_slot *s = compat_map_find(m, key);

	if (s != NULL) {
		s->val = val;
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
		return -1;
	insert_fresh(m, key, val);
	return 0;
}

/* Whether the entry at j, whose home slot is h, may move into the hole. */
static bool
may_fill(size_t hole, size_t h, size_t j)
{
	if (hole <= j)
		return h <= hole || h > j;
	return h <= hole && h > j;
}

bool
compat_map_del(struct compat_map *m, uintptr_t key, void **val)
{
	struct compat_slot *s = compat_map_find(m, key);
	size_t mask = m->cap - 1, hole, j;

	if (s == NULL)
		return false;
	if (val != NULL)
		*val = s->val;
	hole = (size_t)(s - m->slots);
	for (j = (hole + 1) & mask; m->slots[j].key != 0; j = (j + 1) & mask) {
		if (may_fill(hole, slot_of(m, m->slots[j].key), j)) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	m->slots[hole].key = 0;
	m->slots[hole].val = NULL;
	m->n--;
	return true;
}
