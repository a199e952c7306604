/* mgc.h — the public interface of mgc, a garbage-collected allocator for C.
 *
 * Link with -lmgc -lpthread (or `pkg-config --libs mgc`).  Every function is
 * thread-safe.  Memory from mgc_alloc never has to be freed: a conservative
 * mark-sweep collector finds blocks that no root reaches and reuses them.
 * mgc_free is still available for programs that know a block is dead.
 *
 * Errors: an allocation that cannot be satisfied returns NULL with errno
 * ENOMEM and leaves the heap usable; API misuse returns -1 with errno set;
 * freeing something that is not a live block start prints a line
 * "mgc: free of <ptr>: <why>" on stderr and aborts.
 */
#ifndef MGC_H
#define MGC_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What is a root (scanned conservatively, every aligned word): the data and
 * bss of the executable and of every loaded shared library, dlopen'ed ones
 * included; each registered thread's registers, stack and thread-local
 * variables; the ranges given to mgc_add_roots; the contents of reachable
 * scan blocks.  Memory from malloc or mmap is not scanned unless added.
 * A pointer anywhere inside a block keeps it alive; a pointer one past its
 * end does not.
 *
 * Blocks are 16-byte aligned, except for requests of 8 bytes or less (8-aligned).
 * A block's usable size (mgc_base) exceeds the request by at most 16 bytes
 * below 128 bytes and by at most 12.5% from 128 bytes up (the seed's rule).
 */

/* Optional; idempotent.  Any other call initialises on first use. */
void   mgc_init(void);

/* Zeroed block of at least `size` bytes, scanned conservatively for
 * pointers, reclaimed once unreachable.  size 0 gives a unique freeable
 * pointer.  On failure (or a size that cannot be satisfied): NULL, errno = ENOMEM. */
void  *mgc_alloc(size_t size);
/* Same, but the contents are never scanned: pointers stored in it do not
 * keep anything alive (strings, pixel buffers, numeric arrays). */
void  *mgc_alloc_noscan(size_t size);
/* (mgc extension) mgc_alloc, with the block's start a multiple of align, a
 * power of two up to 8192 (memalign, posix_memalign): a block start like
 * any other, for every call.  The usable size is at least size and at
 * least align, so it may exceed the request by more than the bound above.
 * NULL with errno EINVAL for another align, ENOMEM on failure. */
void  *mgc_alloc_aligned(size_t size, size_t align);
/* (mgc extension) The usable size mgc_alloc(size) gives (what mgc_base
 * then reports), without allocating; 0 for a size that cannot be
 * satisfied. */
size_t mgc_good_size(size_t size);
/* realloc semantics; keeps the scan/noscan kind of p; p NULL = mgc_alloc;
 * size 0 frees p and returns a fresh size-0 block.  On failure p is intact.
 * p not a live block start: message "mgc: realloc of <ptr>: <why>" (%p) and
 * abort.  Failure: NULL, errno ENOMEM.  A block resized in place keeps its
 * finalizer, cleanups and weak handles and counts nothing; a moved block
 * counts one malloc and one free and loses them (as mgc_free). */
void  *mgc_realloc(void *p, size_t size);
/* Explicit free of a block start returned by an allocation call; NULL is a
 * no-op.  A pointer that is not the start of a live block (interior, foreign,
 * already freed) prints "mgc: free of <ptr>: <why>" (ptr as %p) on stderr and
 * aborts.  A freed (or moved by realloc) block's finalizer and cleanups are
 * dropped without running, and its weak handles read NULL. */
void   mgc_free(void *p);
/* (mgc extension) mgc_free for callers that cannot vouch for p (a
 * library's free taking pointers from its users): a p that is not the
 * start of a live block is left alone, with -1 and errno EINVAL, instead
 * of aborting; 0 otherwise (NULL too). */
int    mgc_try_free(void *p);
/* Lookup: base of the live block containing p (interior pointers too), and
 * its usable size in *size (size may be NULL); NULL if p is in no live block.
 * p may be any pointer, even one into a block being freed meanwhile.
 *
 * When a block dies (mgc extension, the rule behind every call): a block a
 * collection found unreachable is dead to every mgc call from the moment
 * that collection restarts the world, although its memory is reused only
 * once its span is swept (lazily, after automatic collections): mgc_base
 * gives NULL for it, mgc_free and mgc_realloc abort with "block is not
 * allocated", and mgc_set_finalizer, mgc_add_cleanup and mgc_weak_new fail
 * with EINVAL.  Only a program that kept its pointer where mgc does not
 * look (malloc'd memory, say) can still name such a block; and a block
 * of a kind with a disclaim callback is live again once the callback, or
 * mgc_set_mark before its span is swept, keeps it (mgc_kind_set_disclaim). */
void  *mgc_base(const void *p, size_t *size);

/* A full stop-the-world collection of every registered thread; returns once
 * the sweep is complete, so the stats already reflect it.  Collections that
 * start by themselves may sweep lazily: until a dead block is swept it still
 * counts in alloc (as Go's HeapAlloc). */
void   mgc_collect(void);
/* Next collection starts when the heap has grown percent% over the live heap
 * left by the last one (env MGC_GCPERCENT, which accepts "off", "adaptive"
 * or a decimal integer and nothing else; "off" or <0 disables automatic
 * collection; mgc_collect still collects).  0 collects whenever the heap
 * grows past the live heap.  An unparsable MGC_GCPERCENT is reported on
 * stderr (naming MGC_GCPERCENT) and ignored.  Returns the previous value
 * (-1 for off).  The trigger compares alloc with next_gc (UINT64_MAX while
 * off).
 * (mgc extension) The default is not a fixed percent but the adaptive rule,
 * MGC_GCPERCENT_ADAPTIVE: the heap may grow over the live heap by the
 * square root of (a constant x the allocation rate x the time a collection
 * takes), measured as the program runs, kept between 25% and 200% of the
 * live heap (docs/DESIGN.md, "Pacing").  A program that allocates fast
 * relative to its live heap gets fewer collections; one that allocates
 * little keeps a tighter heap.  Passing MGC_GCPERCENT_ADAPTIVE selects it;
 * when it was in force, MGC_GCPERCENT_ADAPTIVE is returned (so saving and
 * restoring the returned value restores the rule).  Any percent, or "off",
 * replaces it. */
#define MGC_GCPERCENT_ADAPTIVE (-2)
int    mgc_set_gc_percent(int percent);
/* (mgc extension) The smallest next_gc the pacing above sets: no automatic
 * collection starts before alloc reaches it (default 4 MiB).  A smaller one
 * keeps small programs small at the cost of more, cheaper collections; a
 * larger one saves collections while the heap is young.  0 means the
 * default.  Returns the previous value; takes effect at once. */
size_t mgc_set_min_heap(size_t bytes);
/* (mgc extension) A soft limit on the memory mgc holds (sys less
 * heap_released: heap pages in use and free but not yet returned, and
 * metadata), as Go's GOMEMLIMIT; env MGC_MEMLIMIT takes a decimal number of
 * bytes with an optional unit B, KiB, MiB, GiB or TiB ("512MiB", "2GiB"), or
 * "off".  The next collection starts early enough for the heap to stay
 * within it, and free pages above it go back to the OS.  When the live heap
 * itself does not fit, the collector takes at most about half the time: the
 * program runs between two collections for at least as long as the last one
 * took, and memory grows past the limit rather than the program stalling in
 * back-to-back collections.  The limit holds also while automatic
 * collection is "off" (the percent rule): collections then start only at
 * the limit.  0 or SIZE_MAX: no limit (the default).  Returns the previous
 * limit (0 for none); takes effect at once. */
size_t mgc_set_memory_limit(size_t bytes);
/* (mgc extension) A hard maximum on heap_inuse (env MGC_MAXHEAP, same
 * syntax as MGC_MEMLIMIT).  An allocation that would take the heap past it
 * runs one full collection and tries again, then returns NULL with errno
 * ENOMEM; the heap stays usable, and smaller allocations may still succeed.
 * Automatic collections start before the heap gets near it.  0 or SIZE_MAX:
 * none (the default).  Returns the previous maximum (0 for none); a maximum
 * below the current heap refuses growth from then on, it frees nothing. */
size_t mgc_set_max_heap(size_t bytes);
/* (mgc extension) Collect (as mgc_collect), then return every free page of
 * the heap to the OS (Go's debug.FreeOSMemory).  Without it, free memory
 * goes back in the background: mgc's scavenger thread, started at the
 * first collection, keeps the mapped heap within about an eighth of what
 * the next collection's goal needs, and a program that stops allocating
 * after dropping much of its heap gets one collection from it within a few
 * seconds, so that the memory it dropped goes back too. */
void   mgc_release_memory(void);

/* Which one to use when a block dies:
 *   - A cleanup (mgc_add_cleanup) to release something the block stands
 *     for (a file descriptor, a foreign handle) when you do not need the
 *     block itself: it runs after the block is gone, cycles do not block
 *     it, and several can be attached.  Trap: arg must not reach the block
 *     (then it never dies); arg is all the cleanup gets.
 *   - A finalizer (mgc_set_finalizer) when the code needs the block itself,
 *     or an order (A's before the B it points to).  Traps: a finalizer whose
 *     arg reaches its block never runs; a block in a cycle with a finalizer
 *     (including one pointing to itself) is never finalized nor reclaimed;
 *     the block lives one more collection (resurrected for the finalizer);
 *     nothing guarantees finalizers run before the program exits.
 *   - A weak reference (mgc_weak_new) to find a block while someone else
 *     keeps it alive (caches, canonicalising tables), without keeping it
 *     alive yourself.  Trap: mgc_weak_get may return NULL at any collection
 *     once no root reaches the block; keep the result in a local while you
 *     use it (that local keeps the block alive).
 * Finalizers and cleanups run on a background thread that mgc starts when
 * the first one is queued, or in whichever thread calls mgc_run_finalizers.
 * A thread takes queued ones in small batches (one at first, up to 32 while
 * they return quickly), so a finalizer that blocks after a run of quick
 * ones may hold back up to 31 others taken with it; none is lost.
 * mgc_free of a block drops its finalizer and cleanups without running them.
 *
 * Finalizers, with the seed's ordering: if A reaches B, both have finalizers
 * and both become unreachable, A's finalizer runs first and B's only after A
 * has been reclaimed.  A cycle holding a finalizable block is never reclaimed.
 * The block is kept alive (resurrected) for its finalizer and reclaimed by a
 * later collection if still unreachable.  obj must be the start of a live
 * block.  fn NULL clears (0 even if none was set).  Returns 0, or -1 with
 * errno EINVAL (obj NULL or not a block start) or EEXIST (a finalizer is
 * already set; the first stays).  `arg` is a root until the finalizer has run
 * or been cleared, so an arg that reaches obj means obj is never finalized.
 * A block pointing to itself is a cycle.  Noscan blocks may have finalizers.
 * Finalizers may call any mgc function (allocate, collect, re-arm). */
typedef void (*mgc_finalizer_fn)(void *obj, void *arg);
int    mgc_set_finalizer(void *obj, mgc_finalizer_fn fn, void *arg);
/* Queued finalizers run on a background thread started on demand; this runs
 * any that are queued now in the calling thread, safely alongside that
 * thread.  Returns how many ran in this call (finalizers and cleanups).
 * (mgc extension) A finalizer or cleanup never starts before the collection
 * that queued it has restarted the world, so the blocks that collection
 * found dead are already dead to every call (see mgc_base): inside B's
 * finalizer, mgc_base of the A that reached it is NULL. */
size_t mgc_run_finalizers(void);

/* Weak references (not in the seed; Go's weak.Pointer).  A handle that does
 * not keep its block alive.  obj may point anywhere inside a live block;
 * otherwise NULL with errno EINVAL.  The handle is itself a collected block
 * (it may be freed).  mgc_weak_get(NULL) is NULL. */
typedef struct mgc_weak mgc_weak;
mgc_weak *mgc_weak_new(void *obj);
/* The pointer given to mgc_weak_new while its block is reachable; NULL from
 * the moment the block is first found unreachable from the roots (a block
 * reachable only through blocks awaiting finalization counts as unreachable),
 * before any finalizer runs, even one that resurrects it.  Like every mgc
 * call it registers the calling thread, so that the pointer it returns is
 * a root from then on (NULL if registering fails for want of memory). */
void  *mgc_weak_get(const mgc_weak *w);

/* Cleanups (not in the seed; Go's runtime.AddCleanup).  fn(arg) runs once,
 * on the finalizer runner, after the block holding obj (any interior
 * pointer) is unreachable; the block is not resurrected and is reclaimed in
 * the same collection.  Several per block; no ordering among them; cycles do
 * not block them.  They are queued by the collection that finds the block
 * unreachable; a block that also has a finalizer gets its cleanups once it
 * is unreachable again after the finalizer ran (Go's rule).  Cleanups may
 * call any mgc function.  If arg reaches obj, the block never dies
 * (documented misuse).  0, or -1 with errno EINVAL (obj not in a live block,
 * fn NULL) or ENOMEM.  arg is a root until the cleanup ran or was dropped. */
typedef void (*mgc_cleanup_fn)(void *arg);
int    mgc_add_cleanup(void *obj, mgc_cleanup_fn fn, void *arg);

/* Disappearing links (mgc extension; Boehm's
 * GC_general_register_disappearing_link): once the block holding obj is
 * unreachable, the collection that finds it writes NULL into *link, with
 * every registered thread stopped, so that no thread can read the old
 * value after the block is dead; the registration then ends.  mgc never
 * reads *link, which may hold anything (a hidden pointer, say).  A short
 * link (flags 0) is cleared as a weak handle is, before finalizers can
 * resurrect the block; a long one (MGC_LINK_LONG) only once the block is
 * unreachable from finalizable blocks too.  A link lying inside a heap
 * block that becomes unreachable is forgotten without being written.  The
 * link must stay writable while registered.  One registration of each
 * sort per link address.
 * mgc_link_register: 0, or -1 with errno EINVAL (link NULL, obj in no live
 * block, unknown flags), EEXIST (link already registered) or ENOMEM.
 * mgc_link_unregister: 0, or -1 with errno ENOENT (not registered).
 * mgc_link_move: the registration of link moves to new_link (same target);
 * 0, or -1 with errno ENOENT (link not registered) or EEXIST (new_link
 * is). */
#define MGC_LINK_LONG 1
int    mgc_link_register(void **link, const void *obj, int flags);
int    mgc_link_unregister(void **link, int flags);
int    mgc_link_move(void **link, void **new_link, int flags);

/* Extra roots: every word-aligned word in [start,end) is scanned (bounds
 * rounded inward).  Adding a range twice adds it once.  remove drops every
 * added range lying within [start,end). */
void   mgc_add_roots(void *start, void *end);
void   mgc_remove_roots(void *start, void *end);
/* (mgc extension) Data and bss that need no scanning (Boehm's
 * GC_exclude_static_roots): from the next collection on, [start,end)
 * (bounds rounded outward to words) is cut out of the data and bss
 * segments of the loaded objects, and mgc_is_root answers 0 there.  Added
 * ranges (mgc_add_roots), stacks and TLS are not affected.
 * mgc_clear_excluded_roots forgets every excluded range. */
void   mgc_exclude_roots(void *start, void *end);
void   mgc_clear_excluded_roots(void);
/* (mgc extension) A filter on the data and bss segments (Boehm's
 * GC_register_has_static_roots_callback): every collection, and
 * mgc_is_root, calls fn(name, start, size, arg) for each writable segment
 * of each loaded object (name: its path as the loader knows it, "" for the
 * executable), and scans the segment only if fn returns nonzero.  fn runs
 * holding mgc's collection lock and the loader's lock, with the world
 * running: it must not call mgc, load or unload objects (dlopen, dlclose),
 * or wait for a thread that may.  fn NULL (the default) scans every
 * segment. */
typedef int (*mgc_segment_fn)(const char *name, void *start, size_t size, void *arg);
void   mgc_set_segment_filter(mgc_segment_fn fn, void *arg);

/* Threads: a thread is registered on its first mgc call and unregistered
 * when it exits; these make it explicit.  Registered threads' stacks and
 * registers are roots, and they are stopped during collection.  Registering
 * a registered thread returns 0; unregistering an unregistered one (even as
 * its first mgc call) -1/EINVAL.  Any other mgc call by an unregistered
 * thread registers it again.  A thread
 * that never calls mgc is not scanned.  fork() is supported: the child of a
 * multi-threaded parent can allocate, collect and start threads. */
int    mgc_register_thread(void);
int    mgc_unregister_thread(void);
/* (mgc extensions) Stacks.  mgc_stack_bottom: the base (highest address)
 * of the stack scanned for a registered thread, found when it registered;
 * NULL with errno ESRCH if the thread is not registered.
 * mgc_set_stack_bottom moves it, for a program that runs a thread on
 * stacks of its own (coroutines): collections then scan that thread from
 * its stack pointer to `bottom`; the stack it left is no longer scanned
 * (add it with mgc_add_roots if it holds pointers).  0, or -1 with errno
 * ESRCH (not registered) or EINVAL (bottom NULL).
 * mgc_register_altstack names the calling thread's signal stack
 * (sigaltstack) and its normal stack: a thread stopped while a handler
 * runs on the signal stack has the rest of that one scanned and the whole
 * normal stack, where the interrupted frames are (without it, such a
 * stop scans from the signal stack to the normal stack's base).  0, or -1
 * with errno EINVAL (a NULL or empty range) or ENOMEM. */
void  *mgc_stack_bottom(pthread_t thread);
int    mgc_set_stack_bottom(pthread_t thread, void *bottom);
int    mgc_register_altstack(void *stack, size_t stack_size, void *altstack,
                             size_t altstack_size);
/* (mgc extensions) Stopping threads from the program.
 * mgc_suspend_thread stops a registered thread (itself too) until
 * mgc_resume_thread, as a collection stops it; collections go on around it
 * and scan it as stopped.  Suspending a suspended thread does nothing.
 * mgc_thread_is_suspended: 1 or 0.  Each returns 0 (or the answer), or -1
 * with errno ESRCH if the thread is not registered.  A suspended thread
 * holds no lock of mgc, but it may hold the program's (and malloc's):
 * the caller must not wait for them.
 * mgc_stop_world stops every other registered thread, as a collection
 * does, and mgc_start_world restarts them: in between, the caller may read
 * and write memory but must not call mgc (which would wait for itself),
 * nor anything that takes a lock a stopped thread may hold (malloc,
 * stdio, dlopen).  Calls that do not pair up abort.
 * mgc_each_stopped_thread, from the thread that stopped the world (between
 * mgc_stop_world and mgc_start_world, or in an MGC_EVENT_STOP or
 * MGC_EVENT_RESUME callback), calls fn(thread, arg) for each registered
 * thread but the caller, all stopped; returns how many, or -1 with errno
 * EPERM from any other thread. */
int    mgc_suspend_thread(pthread_t thread);
int    mgc_resume_thread(pthread_t thread);
int    mgc_thread_is_suspended(pthread_t thread);
void   mgc_stop_world(void);
void   mgc_start_world(void);
int    mgc_each_stopped_thread(void (*fn)(pthread_t thread, void *arg), void *arg);
/* (mgc extension) mgc's fork handlers, for a program that forks without
 * fork() (a raw clone system call runs no pthread_atfork handler) or wants
 * to choose when they run: mgc_fork_prepare just before the fork, then
 * mgc_fork_parent in the parent or mgc_fork_child in the child.  Between
 * mgc_fork_prepare and the matching call, the handlers mgc installed with
 * pthread_atfork do nothing on that thread, so fork() may sit between
 * them.  Calls that do not pair up abort. */
void   mgc_fork_prepare(void);
void   mgc_fork_parent(void);
void   mgc_fork_child(void);

typedef struct mgc_stats {
	uint64_t alloc;          /* bytes in live blocks (block sizes as mgc_base reports) */
	uint64_t total_alloc;    /* block bytes ever allocated */
	uint64_t sys;            /* bytes obtained from the OS, metadata and released included */
	uint64_t heap_inuse;     /* bytes in spans holding live blocks */
	uint64_t heap_released;  /* bytes returned to the OS (still reserved) */
	uint64_t inuse_pages;    /* heap_inuse / page size (a power of two >= 4096) */
	uint64_t next_gc;        /* alloc level that triggers the next collection */
	uint64_t lookups;        /* mgc_base calls */
	uint64_t mallocs;        /* blocks ever allocated */
	uint64_t frees;          /* blocks ever freed, explicitly or by collection */
	uint64_t num_gc;         /* completed collections */
	uint64_t pause_total_ns; /* stop-the-world time summed */
	uint64_t pause_last_ns;
	uint64_t pause_max_ns;
	uint64_t finalizers_queued;  /* cumulative, cleanups included */
	uint64_t finalizers_run;     /* finalizers and cleanups that have returned */
	bool     enable_gc;      /* automatic collection on */
} mgc_stats;
/* Exact when no other thread (finalizer runner included) is allocating.
 * mgc's own metadata is counted in sys only; weak handles are blocks. */
void   mgc_read_stats(mgc_stats *out);
/* (mgc extension) Figures and settings mgc_stats leaves out, one at a time
 * (as exact as mgc_read_stats):
 *  MGC_INFO_FREED_BYTES     block bytes ever freed explicitly (mgc_free,
 *                           mgc_try_free, a moving mgc_realloc)
 *  MGC_INFO_SWEPT_BYTES     block bytes ever reclaimed by collections
 *  MGC_INFO_MARKERS         the threads that mark, the collecting one
 *                           included (mgc_set_markers)
 *  MGC_INFO_SIGNAL_SUSPEND, MGC_INFO_SIGNAL_RESTART
 *                           the signals that stop and restart threads
 *  MGC_INFO_HEAP_BYTES      bytes of heap pages ever mapped: in use, free,
 *                           or returned to the OS since (heap_released);
 *                           mgc's metadata is not in it
 *  MGC_INFO_STOP_MAX_NS     the longest single stop of the world of any
 *                           collection (pause_max_ns sums a concurrent
 *                           cycle's two stops)
 *  MGC_INFO_CONCURRENT_CYCLES  collections that marked concurrently
 *                           (MGC_CONCURRENT=1), among num_gc
 *  MGC_INFO_MARK_CONCURRENT_NS their marking time while the program ran
 *  MGC_INFO_RESCANNED_BYTES bytes of written pages they scanned again
 * UINT64_MAX with errno EINVAL for another `what`. */
enum {
	MGC_INFO_FREED_BYTES,
	MGC_INFO_SWEPT_BYTES,
	MGC_INFO_MARKERS,
	MGC_INFO_SIGNAL_SUSPEND,
	MGC_INFO_SIGNAL_RESTART,
	MGC_INFO_HEAP_BYTES,
	MGC_INFO_STOP_MAX_NS,
	MGC_INFO_CONCURRENT_CYCLES,
	MGC_INFO_MARK_CONCURRENT_NS,
	MGC_INFO_RESCANNED_BYTES,
};
uint64_t mgc_info(int what);
/* (mgc extension) The threads that mark from the next collection on, the
 * collecting one included, as MGC_MARKERS: 1 to 8, or 0 for the default
 * (MGC_MARKERS, else the CPUs the process may run on, at most 8).  Returns
 * the previous number, or -1 with errno EINVAL. */
int    mgc_set_markers(int n);
/* (mgc extension) The signals that stop and restart threads during a
 * collection (default SIGPWR and SIGXCPU; 0 keeps one), chosen before mgc
 * is initialised: before mgc_init or any other call.  MGC_SIGNAL_SUSPEND
 * and MGC_SIGNAL_RESTART still win over them.  0, or -1 with errno EBUSY
 * once mgc is initialised, EINVAL for a signal mgc cannot use (SIGKILL,
 * SIGSTOP, SIGSEGV, SIGBUS, none) or the same signal twice. */
int    mgc_set_signals(int suspend, int restart);

/* ---- Object kinds (mgc extensions) ----------------------------------------
 *
 * A block's kind says how the collector treats it.  Blocks of different
 * kinds never share a span, so a kind costs nothing per block.  Every
 * allocation call below returns zeroed memory, NULL with errno ENOMEM on
 * failure and NULL with errno EINVAL for an unknown kind or a NULL layout;
 * their blocks work with every other call (mgc_free, mgc_realloc, which keeps
 * the kind and a typed block's layout, mgc_base, finalizers, cleanups, weak
 * handles).
 *
 * Kinds by number: */
#define MGC_KIND_NORMAL               0 /* mgc_alloc's: scanned conservatively */
#define MGC_KIND_NOSCAN               1 /* mgc_alloc_noscan's: never scanned */
/* Uncollectable: never reclaimed by a collection, only by mgc_free, and a
 * root while allocated (what it points to stays alive); the second flavour
 * is not scanned.  Boehm's GC_malloc_uncollectable, without a side table:
 * as cheap to allocate and free as any other block. */
#define MGC_KIND_UNCOLLECTABLE        2
#define MGC_KIND_UNCOLLECTABLE_NOSCAN 3
/* 4 and up: kinds made by mgc_kind_new. */

/* A block of `size` bytes of the given kind (size 0 as mgc_alloc). */
void  *mgc_alloc_kind(size_t size, int kind);
/* The kind of the live block holding p (any interior pointer): its number,
 * or MGC_KIND_TYPED for a typed block (below), which mgc_alloc_kind does
 * not take (reports, mgc_report, name typed blocks so too).  -1 with errno
 * EINVAL if p is in no live block. */
#define MGC_KIND_TYPED 64
int    mgc_block_kind(const void *p);

/* Batch allocation: between 1 and n blocks of `size` bytes of one kind,
 * linked through their first word (the last one's is NULL), every other
 * word zero; the list is returned.  Costs about one fast-path allocation
 * per block: made for language runtimes that keep per-thread free lists
 * (Boehm's GC_generic_malloc_many).  Blocks larger than 32 KiB come one at
 * a time.  n 0: NULL with errno EINVAL. */
void  *mgc_alloc_many(size_t size, int kind, size_t n);

/* Typed blocks: a layout says which words of a block may hold pointers;
 * the collector reads only those, so integers and floats in the others
 * never keep anything alive, and marking reads less.  A layout of nwords
 * words is made once from a bitmap (bit i of bitmap[i / 64] set: word i
 * may hold a pointer) and lives as long as the process; NULL with errno
 * EINVAL if nwords is 0, ENOMEM if it cannot be stored. */
typedef struct mgc_layout mgc_layout;
const mgc_layout *mgc_layout_new(const uint64_t *bitmap, size_t nwords);
/* A block of `size` bytes scanned through layout: words past the layout's
 * nwords are never scanned.  One word beyond `size` is mgc's (it names
 * the layout), so mgc_base reports the usable size without it. */
void  *mgc_alloc_typed(size_t size, const mgc_layout *layout);
/* An array of n elements of layout's nwords words each, every element
 * scanned through the layout. */
void  *mgc_alloc_typed_array(size_t n, const mgc_layout *layout);

/* Kinds with a trace function: the collector calls trace(block, size,
 * tracer, arg) for each reached block of the kind (size: its usable size),
 * and the function reports the pointers the block holds with
 * mgc_trace_ptr (one candidate pointer) and mgc_trace_range (memory to scan
 * conservatively, every aligned word).  A pointer it does not report keeps
 * nothing alive.  The block itself is not scanned otherwise.
 *
 * The function runs during marking with every registered thread stopped,
 * possibly on one of mgc's helper marker threads and at the same time as
 * other calls of it, and possibly more than once per block per collection
 * (overflow recovery, MGC_CHECKMARK): it must only read memory and report.
 * It must not call any other mgc function, allocate with malloc, take a
 * lock a program thread may hold, or block.  It must accept a block that
 * is all zero (allocated, not yet filled in).  Candidate pointers follow
 * the rule of pointers found in the heap (mgc_set_interior_pointers).
 *
 * mgc_kind_new returns the new kind's number, or -1 with errno EINVAL
 * (trace NULL, flags not 0) or ENOSPC (13 custom kinds exist already). */
typedef struct mgc_tracer mgc_tracer;
typedef void (*mgc_trace_fn)(void *block, size_t size, mgc_tracer *tracer, void *arg);
int    mgc_kind_new(mgc_trace_fn trace, void *arg, unsigned flags);
void   mgc_trace_ptr(mgc_tracer *tracer, const void *p);
void   mgc_trace_range(mgc_tracer *tracer, const void *lo, const void *hi);

/* Disclaim callbacks (mgc extension; Boehm's GC_register_disclaim_proc).
 * Before the sweep reclaims a block of `kind` that a collection found
 * unreachable, it calls fn(block, arg): 0 lets the block go; nonzero keeps
 * it allocated for this cycle (as if a pointer had been found: the next
 * collection judges it again, and calls fn again if it is still
 * unreachable).  A block freed with mgc_free is freed without a call.
 * With flags MGC_DISCLAIM_TRACE_ALL, every collection also traces the
 * contents of every allocated block of the kind, reachable or not, as
 * roots (the blocks themselves are not marked): what an unreachable block
 * points to then survives while fn decides, so fn may read it, at the
 * cost that a chain of such blocks takes a collection per link to go.
 * fn NULL removes the callback.  One callback per kind; a new one
 * replaces the old from the next span swept.  Any kind may have one
 * (uncollectable blocks never reach it).  0, or -1 with errno EINVAL (no
 * such kind, unknown flags) or ENOMEM.
 *
 * Where fn runs: in the lazy sweep, on whichever thread sweeps the
 * block's span (an allocating thread in its slow path, mgc_collect, the
 * next collection before it marks, mgc's scavenger thread), after the
 * collection restarted the world and before the block's memory is used
 * again.  It runs holding one of mgc's allocator locks, and until it
 * returns no collection starts; so fn must be short and never block: no
 * malloc, no lock another thread may hold (pthread_mutex_trylock is
 * fine), no waiting for other threads, and no mgc call but mgc_base,
 * mgc_is_marked and mgc_set_mark.  For fn, the blocks of the span being
 * swept are all still allocated: mgc_base gives the block back, and
 * mgc_is_marked and mgc_set_mark read and set their marks (setting one
 * keeps that block too).  Other threads see the block dead from the
 * collection's end until fn keeps it (see mgc_base), live again after. */
#define MGC_DISCLAIM_TRACE_ALL 1
typedef int (*mgc_disclaim_fn)(void *block, void *arg);
int    mgc_kind_set_disclaim(int kind, mgc_disclaim_fn fn, void *arg, unsigned flags);

/* Interior pointers (mgc extension).  By default a pointer anywhere inside
 * a block keeps it alive, wherever it is found.  mgc_set_interior_pointers(0)
 * narrows the rule for pointers found in heap blocks (scanned blocks, typed
 * words, trace functions): only a pointer to the block's start, or at a
 * registered displacement from it, retains the block.  Roots (stacks,
 * registers, data, added ranges) keep recognising interior pointers.
 * Returns the previous setting; takes effect from the next collection.
 * mgc_register_displacement(d) makes a pointer d bytes past a block's start
 * retain it under the narrow rule (tagged pointers); 0, or -1 with errno
 * EINVAL if d >= 4096. */
int    mgc_set_interior_pointers(int on);
int    mgc_register_displacement(size_t offset);

/* Collection events (mgc extension): fn(event, arg) at these points of
 * every collection, on the collecting thread.  One callback at a time;
 * fn NULL removes it.
 *  MGC_EVENT_START  a collection begins: the world runs, mgc's collection
 *                    lock is held.  fn may call mgc_read_stats, mgc_info,
 *                    mgc_heap_bounds and nothing else of mgc (no
 *                    allocation: it would wait for this collection).
 *  MGC_EVENT_STOP   the world is stopped, marking not begun; every other
 *                    registered thread is stopped wherever it was, so fn
 *                    must not call mgc (but mgc_each_stopped_thread),
 *                    malloc, or take any lock.
 *  MGC_EVENT_RESUME the mark and finalization passes are done, the world
 *                    about to restart: same rules as MGC_EVENT_STOP.
 *  MGC_EVENT_END    the world runs again: same rules as MGC_EVENT_START.
 * Finalizers queued by the collection run after MGC_EVENT_END. */
enum { MGC_EVENT_START, MGC_EVENT_STOP, MGC_EVENT_RESUME, MGC_EVENT_END };
typedef void (*mgc_event_fn)(int event, void *arg);
void   mgc_set_event_callback(mgc_event_fn fn, void *arg);

/* (mgc extension) fn(arg) with collections excluded: none is under way
 * and none starts until fn returns (Boehm's GC_call_with_alloc_lock), so
 * fn sees every disappearing link and weak handle as one collection left
 * them.  fn may call any mgc function: allocations grow the heap rather
 * than collect (at a maximum set by mgc_set_max_heap they fail), and
 * mgc_collect returns at once.  Other threads go on running; an automatic
 * collection is put off while a section runs, and an mgc_collect waits
 * for it to end, so fn must not wait for a thread that collects.  Returns
 * what fn returns; calls nest. */
void  *mgc_call_exclusive(void *(*fn)(void *), void *arg);

/* Queries (mgc extensions).  mgc_is_root: whether p lies in memory the
 * collector scans as a root: the data and bss of a loaded object (less
 * what mgc_exclude_roots and the segment filter leave out), a range added
 * with mgc_add_roots, or the calling thread's stack (1), or not (0).
 * mgc_heap_bounds: the lowest and highest+1 addresses the heap has ever
 * used (both NULL before the first allocation); every block lies between
 * them. */
int    mgc_is_root(const void *p);
void   mgc_heap_bounds(void **lo, void **hi);

/* ---- Leak finding and debug allocation (mgc extensions) -------------------
 *
 * mgc_debug_alloc: a block of one of the four built-in kinds, or of a kind
 * of mgc_kind_new, that records where it was allocated (file and line, as
 * given: the caller keeps file alive, normally a string literal) and
 * carries guard words around its bytes.  The pointer it returns is the
 * block's for every call: mgc_free, mgc_try_free and mgc_realloc take it
 * (a debug block moved by mgc_realloc keeps its allocation site; by
 * mgc_debug_realloc, it takes the new one, and a block of a kind of
 * mgc_kind_new becomes MGC_KIND_NORMAL), and it keeps the block alive with
 * interior pointers off too.  mgc_base gives the start of the whole block
 * (the record lies before the bytes); so does the trace function of a
 * kind of mgc_kind_new, which finds the program's bytes MGC_DEBUG_OFFSET
 * past the block it is given.  Each block costs 40 bytes more.  NULL with
 * errno EINVAL for another kind (no such kind, a typed block's), ENOMEM
 * when out of memory.
 *
 * Every collection checks the end guard of every debug block (and
 * mgc_free checks the block it frees): bytes written past the end of a
 * block are reported once, with where the block was allocated.
 * mgc_check_heap collects now and returns how many smashed blocks that
 * collection found.
 *
 * Leak mode (mgc_set_find_leaks(1), or MGC_FIND_LEAKS=1 in the environment;
 * returns the previous setting): for a program that frees what it allocates
 * (malloc and free mapped onto mgc_alloc and mgc_free, say), each
 * collection reports every block it finds unreachable, once, and does not
 * reclaim it: a leak stays allocated, and what it points to with it, until
 * the program frees it.  A collection runs at exit to report what is left.
 * Blocks of mgc_debug_alloc are reported with their allocation site.
 *
 * Reports go to the report callback, called by the thread that ran the
 * collection, after the world restarted, with no mgc lock held (it may
 * allocate; a collection it causes reports after it returns), once per
 * collection and kind of finding, with an array of n findings.  The
 * default, with no callback (fn NULL), prints one line each on stderr:
 *   mgc: leak: <size> bytes at <ptr>, allocated at <file>:<line>
 *   mgc: smashed block: <size> bytes at <ptr>, allocated at <file>:<line>,
 *        overwritten at <address of the first changed guard byte>
 * A leak's block is kept allocated, but a callback should not rely on its
 * contents: they are whatever the program left there.
 *
 * Build a program with -DMGC_DEBUG_ALLOC (before including mgc.h) and its
 * mgc_alloc, mgc_alloc_noscan and mgc_realloc calls become the debug calls
 * with __FILE__ and __LINE__. */
/* A debug block's pointer lies this many bytes past its mgc_base. */
#define MGC_DEBUG_OFFSET 32
void  *mgc_debug_alloc(size_t size, int kind, const char *file, int line);
void  *mgc_debug_realloc(void *p, size_t size, const char *file, int line);
size_t mgc_check_heap(void);
int    mgc_set_find_leaks(int on);
enum { MGC_REPORT_LEAK, MGC_REPORT_SMASH };
typedef struct mgc_report {
	int what;         /* MGC_REPORT_LEAK or MGC_REPORT_SMASH */
	int kind;         /* MGC_KIND_*, or a kind of mgc_kind_new */
	void *p;          /* the block, as the program got it */
	size_t size;      /* debug blocks: the size asked for; others: the block's */
	const char *file; /* the allocation site (debug blocks), else NULL */
	int line;
	void *smashed;    /* MGC_REPORT_SMASH: the first guard byte found changed */
} mgc_report;
typedef void (*mgc_report_fn)(const mgc_report *reports, size_t n, void *arg);
void   mgc_set_report_callback(mgc_report_fn fn, void *arg);

#ifdef MGC_DEBUG_ALLOC
#define mgc_alloc(size)        mgc_debug_alloc((size), MGC_KIND_NORMAL, __FILE__, __LINE__)
#define mgc_alloc_noscan(size) mgc_debug_alloc((size), MGC_KIND_NOSCAN, __FILE__, __LINE__)
#define mgc_realloc(p, size)   mgc_debug_realloc((p), (size), __FILE__, __LINE__)
#endif

/* Mark bits (mgc extension; Boehm's GC_is_marked, GC_set_mark_bit and
 * GC_clear_mark_bit).  p points into a block (its start or inside it).
 * What a block's mark means depends on when it is asked:
 *  - during a collection's mark, from a trace function, a roots callback
 *    or the MGC_EVENT_STOP and MGC_EVENT_RESUME callbacks: whether the mark
 *    has reached the block so far.  Setting it marks the block without
 *    scanning its contents; clearing it unmarks the block (what the block
 *    reached stays marked), and the sweep then reclaims it.
 *  - between collections: whether the block survives the last
 *    collection's sweep: 1 for a block it found reachable, one kept since
 *    (mgc_set_mark, a disclaim callback) and any block allocated since; 0
 *    for a block it found unreachable.  While the block's span is not yet
 *    swept, setting the mark brings an unreachable block back (live again
 *    to every call, neither reclaimed nor disclaimed: what it points to
 *    must still be alive, which MGC_DISCLAIM_TRACE_ALL ensures for its
 *    kind), and clearing it makes the sweep reclaim the block even if it
 *    is reachable (only for a block the program knows to be dead).  Once
 *    the span is swept, neither changes anything: the next collection
 *    decides.
 * mgc_is_marked: 1 or 0 (0 when p is in no allocated block).
 * mgc_set_mark: 0, or -1 with errno EINVAL (p in no allocated block, or
 * between collections a block already reclaimed), EDEADLK (from a
 * disclaim callback, a block of a span other than the one being swept) or
 * ENOMEM (registering the calling thread failed). */
int    mgc_is_marked(const void *p);
int    mgc_set_mark(const void *p, int on);

/* A roots callback (mgc extension; Boehm's GC_set_push_other_roots): at
 * every collection, after the stacks and the added ranges have been
 * marked, fn(tracer, arg) runs on the collecting thread with the world
 * stopped and reports more roots: mgc_trace_range(tracer, lo, hi) scans
 * [lo, hi) as a root (every aligned word; interior pointers count) and
 * mgc_trace_ptr(tracer, p) marks from one pointer.  Made for roots that
 * come and go, such as the stacks of a language's fibers.  fn runs under
 * the rules of MGC_EVENT_STOP (every other thread is stopped wherever it
 * was: no malloc, no lock, no mgc call but mgc_trace_ptr, mgc_trace_range,
 * mgc_is_marked and mgc_set_mark), and twice per collection under
 * MGC_CHECKMARK, which marks again from the same roots.  One callback at
 * a time; fn NULL removes it.  Not to be called from inside a callback of
 * mgc's. */
typedef void (*mgc_roots_fn)(mgc_tracer *tracer, void *arg);
void   mgc_set_roots_callback(mgc_roots_fn fn, void *arg);

/* Heap walk (mgc extension; Boehm's GC_enumerate_reachable_objects_inner):
 * fn(block, size, arg) for every allocated block, size being its usable
 * size, in no particular order.  The last collection's sweep is finished
 * first, so the blocks are those it left (found reachable, or kept) and
 * those allocated since (mgc_collect just before gives the reachable ones
 * as of then).  fn runs on the calling thread with every other registered
 * thread stopped and no collection running: under the rules of
 * MGC_EVENT_STOP, but it may also call mgc_base and mgc_is_marked.  May be
 * called inside mgc_call_exclusive, not from a callback of mgc's nor
 * between mgc_stop_world and mgc_start_world. */
typedef void (*mgc_walk_fn)(void *block, size_t size, void *arg);
void   mgc_heap_walk(mgc_walk_fn fn, void *arg);

/* ---- Notes for users (beyond the contract) --------------------------------
 *
 * Environment (read once, at initialisation):
 *   MGC_GCPERCENT        see mgc_set_gc_percent.
 *   MGC_MEMLIMIT         see mgc_set_memory_limit.
 *   MGC_MAXHEAP          see mgc_set_max_heap.
 *   MGC_TRACE=1          one line per collection on stderr: number, time since
 *                        start, pause, heap before -> after -> next goal, blocks
 *                        freed, threads stopped, root and stack bytes scanned.
 *   MGC_FIND_LEAKS=1     leak mode: see mgc_set_find_leaks.
 *   MGC_COLLECT_EVERY=1  debugging: collect at every allocation (very slow);
 *                        shakes out pointers kept where mgc cannot see them.
 *   MGC_MARKERS=n        threads that mark during a collection, the collecting
 *                        thread included (1 to 8; default: the CPUs the process
 *                        may run on, at most 8).  The others are mgc's own
 *                        threads, started at the first collection; they sleep
 *                        between collections and are never stopped or scanned.
 *   MGC_CHECKMARK=1      check every collection's mark: after it, mark again
 *                        from the same roots with a simple one-thread marker,
 *                        and abort with "mgc: checkmark: block <ptr> (size N)
 *                        reachable but unmarked; found from <where>" if the
 *                        real mark missed a block (as Go's gccheckmark).
 *                        Costs a second mark per collection.  Default: on in
 *                        debug builds (MGC_DEBUG), off otherwise; 0 turns it
 *                        off.
 *   MGC_CONCURRENT=1     mostly-concurrent collection (mgc extension, new):
 *                        automatic collections mark on mgc's own threads
 *                        while the program runs, between two short stops,
 *                        where the kernel can track written pages
 *                        (userfaultfd write-protection, Linux 6.7+, or
 *                        soft-dirty bits); elsewhere, and once a custom kind
 *                        exists (mgc_kind_new), collections stop the world
 *                        as by default.  mgc_collect always stops the world.
 *                        A cycle holds mgc's collection lock throughout:
 *                        calls that take it (mgc_add_roots, the setters,
 *                        mgc_collect...) wait for the cycle to end.  The
 *                        event callback sees STOP and RESUME twice per
 *                        cycle, START and END on mgc's collector thread;
 *                        pause statistics count both stops.  MGC_TRACE lines
 *                        of such cycles end in "; concurrent (BACKEND): stops
 *                        A + B ms, mark C ms, written X + Y KiB rescanned".
 *                        MGC_DIRTY=uffd|soft|none forces the tracker (none:
 *                        stop the world).
 *   MGC_SIGNAL_SUSPEND, MGC_SIGNAL_RESTART
 *                        the signal numbers used to stop and restart threads
 *                        during a collection (default SIGPWR and SIGXCPU);
 *                        set them if the program uses those signals.
 *
 * Threads.  Collections stop registered threads with signals.  Both handlers
 * use SA_RESTART, so read(), write() and the like resume transparently; calls
 * the kernel never restarts (nanosleep, poll, select, epoll_wait, sem_wait
 * with a timeout...) may return EINTR during a collection, as with any
 * signal.  A pointer passed to a new thread (its pthread_create argument) is
 * not seen by the collector until the new thread has called mgc: keep another
 * reference until then, or register the thread first.  Stacks used through
 * sigaltstack are not scanned unless registered (mgc_register_altstack),
 * nor stacks a thread switches to (coroutines) unless it moves its stack
 * bottom there (mgc_set_stack_bottom); thread-local variables of libraries
 * loaded with dlopen after a thread registered are not scanned.
 *
 * Memory mgc does not scan: malloc'ed memory, mmap'ed memory and anything
 * hidden (xor-ed or compressed pointers).  Register such ranges with
 * mgc_add_roots, or keep the pointers in mgc blocks.
 */

#ifdef __cplusplus
}
#endif

#endif
