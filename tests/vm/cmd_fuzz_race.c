// SPDX-License-Identifier: GPL-2.0-only
/*
 * cmd_fuzz, race mode: four threads against one instance for a while, each
 * with its own command page in shared "guest RAM":
 *  - two ring doorbells with random commands (random_command), now and then
 *    without the shared register lock, so their register writes interleave;
 *  - one creates and destroys objects: a context, a PD, a CQ (its ring placed
 *    in BAR2, which zaps every window mapping), an MR over a second region of
 *    guest RAM; it closes the context with the objects alive every other time;
 *  - one unmaps and maps that region again (VFIO's dma_unmap callback against
 *    the MR's pins) and maps BAR2, splits, moves and forks the mapping while
 *    the window's pages change owner.
 * Afterwards nothing may be left: no MR, PD or CQ counted, no page pinned
 * (VmPin and VmLck of this process, "QEMU", back to 0), and the instance still
 * serves. The caller checks the kernel log for oopses and warnings.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/ib_user_verbs.h>

#include "cmd_fuzz.h"

#define PAGE HYV_PAGE_SIZE
/* Command pages (one per thread), then the object thread's list page. */
#define RACE_IOVA 0x70000000ull
#define RACE_THREADS 4
#define LIST_PAGE RACE_THREADS
#define RACE_PAGES (RACE_THREADS + 1)
/* The region the unmapper takes away and gives back; the object thread's MRs live in it. */
#define MR_IOVA 0x78000000ull
#define MR_PAGES 8u
/* BAR2 pages the unmapper maps at once. */
#define WINDOW_MAP_PAGES 16u
#define BAR2_OFFSET ((off_t)VFIO_PCI_BAR2_REGION_INDEX << VFIO_REGION_SHIFT)
#define CLOSE_TRIES 4

enum { DOORBELL_A, DOORBELL_B, OBJECTS, UNMAPPER };

static uint8_t *race_ram, *mr_ram;
/* The doorbell threads' contexts, closed once every thread stopped. */
static uint32_t doorbell_ctx[RACE_THREADS];
static int race_container;
static volatile int stop;
static int doorbells_ready;	/* doorbell threads that hold their context */
static int started;		/* ... and may race now */
static unsigned long commands, rejected, object_rounds, objects_made, unmaps, window_maps;
static unsigned long stray_closes;

static void thread_page(int index)
{
	page = race_ram + (size_t)index * PAGE;
	page_gpa = RACE_IOVA + (uint64_t)index * PAGE;
	rng_seed((uint64_t)index + 1);
}

static void *doorbells(void *arg)
{
	int index = (int)(intptr_t)arg;
	uint32_t ctx, st;

	thread_page(index);
	/* Opened before any thread is racy: the handle is sure to be its own. */
	expect_status(ctx_open(&ctx), 0, "race: CTX_OPEN of a doorbell thread");
	doorbell_ctx[index] = ctx;
	__atomic_add_fetch(&doorbells_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&started, __ATOMIC_ACQUIRE))
		;
	ring_racy = 1;
	while (!stop) {
		st = random_command(ctx);
		__atomic_add_fetch(&commands, 1, __ATOMIC_RELAXED);
		if (st)
			__atomic_add_fetch(&rejected, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static uint32_t reg_mr(uint32_t ctx, uint32_t pd, uint32_t *handle)
{
	uint8_t buf[sizeof(struct hyv_reg_mr) + sizeof(uint64_t)];
	uint64_t *list = (uint64_t *)(race_ram + (size_t)LIST_PAGE * PAGE), list_gpa;
	struct hyv_reg_mr req = {
		.start = htole64(0x7f0000000000ull), .length = htole64((uint64_t)MR_PAGES * PAGE),
		.hca_va = htole64(0x7f0000000000ull), .pd_handle = htole32(pd),
		.access_flags = htole32(IB_UVERBS_ACCESS_LOCAL_WRITE | IB_UVERBS_ACCESS_REMOTE_WRITE),
		.npages = htole32(MR_PAGES), .nr_lists = htole32(1),
	};
	uint32_t i, st;

	for (i = 0; i < MR_PAGES; i++)
		list[i] = htole64(MR_IOVA + (uint64_t)(MR_PAGES - 1 - i) * PAGE);
	list_gpa = htole64(RACE_IOVA + (uint64_t)LIST_PAGE * PAGE);
	memcpy(buf, &req, sizeof(req));
	memcpy(buf + sizeof(req), &list_gpa, sizeof(list_gpa));
	st = run(HYV_OP_REG_MR, ctx, buf, sizeof(buf), sizeof(struct hyv_reg_mr_resp));
	*handle = le32toh(((struct hyv_reg_mr_resp *)(page + resp_off(sizeof(buf))))->mr_handle);
	return st;
}

static void dealloc(uint32_t ctx, uint32_t command, uint32_t handle)
{
	/* DEREG_MR and DEALLOC_PD bodies are both a bare handle. */
	run_uverbs(ctx, command, &handle, sizeof(handle), 0);
}

/*
 * A doorbell rung with another thread's command address runs that command again: a CTX_OPEN of
 * this thread's opens a context nobody knows of. At the limit, every context but the doorbell
 * threads' goes.
 */
static void close_stray_contexts(void)
{
	uint32_t handle;

	for (handle = 0; handle < HYV_MAX_CONTEXTS; handle++)
		if (handle != doorbell_ctx[DOORBELL_A] && handle != doorbell_ctx[DOORBELL_B])
			run(HYV_OP_CTX_CLOSE, handle, NULL, 0, 0);
	__atomic_add_fetch(&stray_closes, 1, __ATOMIC_RELAXED);
}

static void *objects(void *arg)
{
	uint32_t ctx, pd, cq = 0, mr = 0, round, tries;

	/* Statuses go unchecked: a racy doorbell thread may have run another command instead. */
	thread_page((int)(intptr_t)arg);
	for (round = 0; !stop; round++) {
		if (ctx_open(&ctx) == EMFILE)
			close_stray_contexts();
		if (ctx_open(&ctx))
			continue;
		if (!try_get_context(ctx) && !alloc_pd(ctx, &pd)) {
			if (!create_cq_handle(ctx, 16, &cq))
				__atomic_add_fetch(&objects_made, 1, __ATOMIC_RELAXED);
			if (!reg_mr(ctx, pd, &mr))
				__atomic_add_fetch(&objects_made, 1, __ATOMIC_RELAXED);
			/* Every other round the context's close takes them. */
			if (round % 2) {
				destroy_cq(ctx, cq);
				dealloc(ctx, IB_USER_VERBS_CMD_DEREG_MR, mr);
				dealloc(ctx, IB_USER_VERBS_CMD_DEALLOC_PD, pd);
			}
		}
		/*
		 * A racy doorbell thread may have taken the registers of this close: again until the
		 * handle is refused (EINVAL: closed), a few times at most, so that contexts do not pile
		 * up to the limit and leave this thread nothing to do.
		 */
		for (tries = 0; tries < CLOSE_TRIES; tries++)
			if (run(HYV_OP_CTX_CLOSE, ctx, NULL, 0, 0) == EINVAL)
				break;
		__atomic_add_fetch(&object_rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void map_mr_region(void)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)mr_ram, .iova = MR_IOVA, .size = (uint64_t)MR_PAGES * PAGE,
	};

	if (ioctl(race_container, VFIO_IOMMU_MAP_DMA, &map))
		die("race: VFIO_IOMMU_MAP_DMA of the MR region");
}

static void unmap_mr_region(void)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = MR_IOVA, .size = (uint64_t)MR_PAGES * PAGE,
	};

	if (ioctl(race_container, VFIO_IOMMU_UNMAP_DMA, &unmap))
		die("race: VFIO_IOMMU_UNMAP_DMA of the MR region");
}

static void touch(const volatile uint8_t *window, uint32_t pages)
{
	uint32_t i;

	for (i = 0; i < pages; i++)
		(void)window[(size_t)i * PAGE];
}

/* BAR2 mapped, read, split, moved and forked while the object thread moves pages in and out. */
static void window_shuffle(void)
{
	off_t first = (off_t)(rng() % (HYV_BAR2_SIZE / PAGE - WINDOW_MAP_PAGES)) * PAGE;
	size_t len = (size_t)WINDOW_MAP_PAGES * PAGE;
	uint8_t *w, *moved, *target;
	pid_t child;

	w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, vfio_device, BAR2_OFFSET + first);
	if (w == MAP_FAILED)
		die("race: mmap BAR2");
	touch(w, WINDOW_MAP_PAGES);
	switch (rng() % 3) {
	case 0: /* a split: the middle page goes */
		munmap(w + len / 2, PAGE);
		touch(w, WINDOW_MAP_PAGES / 2);
		/*
		 * Not one munmap over the hole: the kernel may have placed one of its hidden
		 * mappings (a context's scratch page) there meanwhile.
		 */
		munmap(w, len / 2);
		munmap(w + len / 2 + PAGE, len / 2 - PAGE);
		__atomic_add_fetch(&window_maps, 1, __ATOMIC_RELAXED);
		return;
	case 1: /* a move */
		target = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (target == MAP_FAILED)
			die("race: mmap target");
		moved = mremap(w, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, target);
		if (moved == MAP_FAILED)
			die("race: mremap BAR2");
		w = moved;
		touch(w, WINDOW_MAP_PAGES);
		break;
	default: /* a fork whose child reads the window and leaves */
		child = fork();
		if (child < 0)
			die("race: fork");
		if (!child) {
			touch(w, WINDOW_MAP_PAGES);
			_exit(0);
		}
		touch(w, WINDOW_MAP_PAGES);
		waitpid(child, NULL, 0);
		break;
	}
	munmap(w, len);
	__atomic_add_fetch(&window_maps, 1, __ATOMIC_RELAXED);
}

static void *unmapper(void *arg)
{
	thread_page((int)(intptr_t)arg);
	while (!stop) {
		unmap_mr_region();
		map_mr_region();
		__atomic_add_fetch(&unmaps, 1, __ATOMIC_RELAXED);
		window_shuffle();
	}
	return NULL;
}

/* A field of /proc/self/status in kB (VmPin: rxe's MR pins; VmLck: VFIO's vendor pins). */
static unsigned long status_kb(const char *field)
{
	char line[256];
	unsigned long kb = 0;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		die("/proc/self/status");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			kb = strtoul(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

void race_checks(int container, const char *uuid, unsigned int seconds)
{
	static void *(*const bodies[RACE_THREADS])(void *) = {
		[DOORBELL_A] = doorbells, [DOORBELL_B] = doorbells,
		[OBJECTS] = objects, [UNMAPPER] = unmapper,
	};
	pthread_t threads[RACE_THREADS];
	unsigned int left_open = 0;
	uint32_t ctx, pd;
	int fd, i;

	mdev_uuid = uuid;
	race_container = container;
	fd = memfd_create("cmd_fuzz-race-ram", 0);
	if (fd < 0 || ftruncate(fd, (off_t)RACE_PAGES * PAGE))
		die("race: memfd_create");
	race_ram = map_guest_ram(container, fd, RACE_PAGES, RACE_IOVA);
	close(fd);
	fd = memfd_create("cmd_fuzz-race-mr", 0);
	if (fd < 0 || ftruncate(fd, (off_t)MR_PAGES * PAGE))
		die("race: memfd_create");
	mr_ram = map_guest_ram(container, fd, MR_PAGES, MR_IOVA);
	close(fd);

	for (i = 0; i < RACE_THREADS; i++)
		if (pthread_create(&threads[i], NULL, bodies[i], (void *)(intptr_t)i))
			die("race: pthread_create");
	while (__atomic_load_n(&doorbells_ready, __ATOMIC_ACQUIRE) < 2)
		usleep(1000);
	__atomic_store_n(&started, 1, __ATOMIC_RELEASE);
	sleep(seconds);
	stop = 1;
	for (i = 0; i < RACE_THREADS; i++)
		pthread_join(threads[i], NULL);
	expect_status(run(HYV_OP_CTX_CLOSE, doorbell_ctx[DOORBELL_A], NULL, 0, 0), 0,
		      "race: CTX_CLOSE of a doorbell thread's context");
	expect_status(run(HYV_OP_CTX_CLOSE, doorbell_ctx[DOORBELL_B], NULL, 0, 0), 0,
		      "race: CTX_CLOSE of a doorbell thread's context");
	/*
	 * The object thread's CTX_CLOSE may have lost its registers to a racy doorbell thread and
	 * never run: its contexts (and their objects) are still open, as they should be. Closing
	 * every handle is what QEMU's close of the device does too.
	 */
	for (i = 0; i < (int)HYV_MAX_CONTEXTS; i++)
		if (!run(HYV_OP_CTX_CLOSE, (uint32_t)i, NULL, 0, 0))
			left_open++;

	printf("cmd_fuzz: race for %u s: %lu random commands (%lu rejected), %lu object rounds "
	       "(%lu objects made, stray contexts closed %lu times, %u left open), %lu unmaps of MR "
	       "RAM, %lu BAR2 mappings split, moved or forked\n", seconds, commands, rejected,
	       object_rounds, objects_made, stray_closes, left_open, unmaps, window_maps);
	expect(commands > 0 && object_rounds > 0 && objects_made > 0 && unmaps > 0 && window_maps > 0,
	       "race: a thread did no work");
	expect(quota_read("mrs") == 0 && quota_read("pinned_bytes") == 0 && quota_read("pds") == 0 &&
	       quota_read("cqs") == 0,
	       "race: left counted: mrs %" PRIu64 " pinned_bytes %" PRIu64 " pds %" PRIu64
	       " cqs %" PRIu64, quota_read("mrs"), quota_read("pinned_bytes"), quota_read("pds"),
	       quota_read("cqs"));
	expect(status_kb("VmPin") == 0 && status_kb("VmLck") == 0,
	       "race: pages still pinned: VmPin %lu kB, VmLck %lu kB", status_kb("VmPin"),
	       status_kb("VmLck"));
	/* Still serving: the main thread's own page, a fresh context. */
	expect_status(ctx_open(&ctx), 0, "race: CTX_OPEN afterwards");
	get_context(ctx);
	expect_status(alloc_pd(ctx, &pd), 0, "race: ALLOC_PD afterwards");
	expect_status(run(HYV_OP_CTX_CLOSE, ctx, NULL, 0, 0), 0, "race: CTX_CLOSE afterwards");
}
