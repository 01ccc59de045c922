// SPDX-License-Identifier: GPL-2.0-only
/*
 * cmd_fuzz, vfio mode: memory registration (HYV_OP_REG_MR), the
 * per-instance quotas and device resets. Besides the command page, the
 * process maps three more regions of "guest RAM" into the VFIO container:
 * shared memfd pages, which the host can register in place, and anonymous
 * pages and the page cache of a file on ramfs (not shmem: as a disk
 * filesystem's, the host must not pin it for RDMA writes), which it must
 * refuse. Each case checks the status and, through the instance's quota/
 * directory in sysfs, that nothing stays pinned or counted after a failure.
 * A device reset (virtio status 0, VFIO_DEVICE_RESET) must release every
 * host object of the "guest".
 *
 * The ramfs directory comes in CMD_FUZZ_RAMFS.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <linux/virtio_pci.h>

#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/ib_user_verbs.h>

#include "cmd_fuzz.h"

#define PAGE HYV_PAGE_SIZE
/* Shared guest RAM: enough for a registration that needs two list pages. */
#define SHM_PAGES 1024u
#define SHM_IOVA 0x40000000ull
#define ANON_PAGES 4u
#define ANON_IOVA 0x50000000ull
#define RAMFS_PAGES 4u
#define RAMFS_IOVA 0x60000000ull
/*
 * Shared RAM the program unmaps and maps again under a registration of all of it (large enough for
 * the registration to take a while), how long the host then keeps it from new pins, and the shared
 * page that registration's thread uses for its commands.
 */
#define REMAP_IOVA 0x68000000ull
#define REMAP_PAGES 2048u
#define UNMAP_BLOCK_MS 1000
#define UNMAP_TRIES 12
#define UNMAP_DELAY_STEP_US 2000
#define REG_THREAD_PAGE (SHM_PAGES / 2)
/* The last pages of shared RAM hold the page lists. */
#define LIST_PAGE(i) (SHM_PAGES - 1 - (i))
#define TWO_LIST_PAGES (HYV_MR_LIST_ENTRIES + 88)
#define SMALL_PAGES 8u
#define START_OFFSET 0x123u
#define ACCESS (IB_UVERBS_ACCESS_LOCAL_WRITE | IB_UVERBS_ACCESS_REMOTE_WRITE)
#define UNMAPPED_IOVA (1ull << 45)

static uint8_t *shm;
const char *mdev_uuid;

static uint64_t shm_gpa(uint32_t page_index)
{
	return SHM_IOVA + (uint64_t)page_index * PAGE;
}

void *map_guest_ram(int container, int fd, uint32_t pages, uint64_t iova)
{
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };
	void *ram;

	ram = mmap(NULL, (size_t)pages * PAGE, PROT_READ | PROT_WRITE,
		   fd >= 0 ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS, fd, 0);
	if (ram == MAP_FAILED)
		die("mmap guest RAM");
	memset(ram, 0, (size_t)pages * PAGE);
	map.vaddr = (uintptr_t)ram;
	map.size = (uint64_t)pages * PAGE;
	map.iova = iova;
	map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map))
		die("VFIO_IOMMU_MAP_DMA guest RAM");
	return ram;
}

/* A number the instance shows in sysfs: FOLDER/NAME under its mdev device. */
uint64_t mdev_attr_read(const char *folder, const char *name)
{
	char path[256], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/%s/%s", mdev_uuid, folder, name);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f))
		die(path);
	fclose(f);
	return strtoull(buf, NULL, 0);
}

uint64_t quota_read(const char *name)
{
	return mdev_attr_read("quota", name);
}

void quota_write(const char *name, uint64_t value)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/quota/%s", mdev_uuid, name);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%" PRIu64 "\n", value) < 0 || fclose(f))
		die(path);
}

static void expect_usage(uint64_t mrs, uint64_t pinned_pages, const char *what)
{
	uint64_t got_mrs = quota_read("mrs"), got_pinned = quota_read("pinned_bytes");

	expect(got_mrs == mrs && got_pinned == pinned_pages * PAGE,
	       "%s: quota/mrs %" PRIu64 " pinned_bytes %" PRIu64 ", expected %" PRIu64 " and %" PRIu64,
	       what, got_mrs, got_pinned, mrs, pinned_pages * PAGE);
}

/*
 * A registration as the guest driver builds it; the fields are the test's to spoil. The header's
 * flexible lists[] is left empty here (pedantic C forbids embedding it; reg_mr_run() lays out the
 * payload), the addresses live in lists.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
struct reg_mr {
	struct hyv_reg_mr req;
	uint64_t lists[HYV_MR_MAX_LISTS];
	uint32_t extra_lists;	/* list addresses beyond nr_lists in the payload */
	uint32_t out_len;
};
#pragma GCC diagnostic pop

/* Lays out npages page addresses in the list pages and describes them. */
static void reg_mr_init(struct reg_mr *r, uint32_t pd, const uint64_t *gpas, uint32_t npages)
{
	uint32_t lists = (npages + HYV_MR_LIST_ENTRIES - 1) / HYV_MR_LIST_ENTRIES, i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < npages; i++)
		((uint64_t *)(shm + (size_t)LIST_PAGE(i / HYV_MR_LIST_ENTRIES) * PAGE))
			[i % HYV_MR_LIST_ENTRIES] = htole64(gpas[i]);
	for (i = 0; i < lists; i++)
		r->lists[i] = htole64(shm_gpa(LIST_PAGE(i)));
	r->req.start = htole64(0x7f0000000000ull + START_OFFSET);
	r->req.length = htole64((uint64_t)npages * PAGE - START_OFFSET - 1);
	r->req.hca_va = r->req.start;
	r->req.pd_handle = htole32(pd);
	r->req.access_flags = htole32(ACCESS);
	r->req.npages = htole32(npages);
	r->req.nr_lists = htole32(lists);
	r->out_len = sizeof(struct hyv_reg_mr_resp);
}

static uint32_t reg_mr_run(uint32_t ctx, const struct reg_mr *r, struct hyv_reg_mr_resp *resp)
{
	uint8_t buf[sizeof(r->req) + sizeof(r->lists)];
	uint32_t lists = le32toh(r->req.nr_lists) + r->extra_lists, st;

	if (lists > HYV_MR_MAX_LISTS)
		lists = HYV_MR_MAX_LISTS;
	memcpy(buf, &r->req, sizeof(r->req));
	memcpy(buf + sizeof(r->req), r->lists, lists * sizeof(uint64_t));
	st = run(HYV_OP_REG_MR, ctx, buf, sizeof(r->req) + lists * sizeof(uint64_t), r->out_len);
	if (resp)
		memcpy(resp, page + resp_off(sizeof(r->req) + lists * sizeof(uint64_t)),
		       sizeof(*resp));
	return st;
}

static uint32_t dereg_mr(uint32_t ctx, uint32_t handle)
{
	struct ib_uverbs_dereg_mr c = { .mr_handle = handle };

	return run_uverbs(ctx, IB_USER_VERBS_CMD_DEREG_MR, &c, sizeof(c), 0);
}

/* Each malformed registration fails with its errno and leaves nothing behind. */
static void reg_mr_rejections(uint32_t ctx, uint32_t pd, const uint64_t *gpas)
{
	uint64_t bad[SMALL_PAGES];
	struct reg_mr r;

#define EXPECT_REJECT(err, what, ...)                                       \
	do {                                                                \
		reg_mr_init(&r, pd, gpas, SMALL_PAGES);                     \
		__VA_ARGS__;                                                \
		expect_status(reg_mr_run(ctx, &r, NULL), err, "REG_MR " what); \
		expect_usage(0, 0, "after REG_MR " what);                   \
	} while (0)

	EXPECT_REJECT(EINVAL, "of length 0", r.req.length = 0);
	EXPECT_REJECT(EINVAL, "with npages one too many", r.req.npages = htole32(SMALL_PAGES + 1));
	EXPECT_REJECT(EINVAL, "with npages one too few", r.req.npages = htole32(SMALL_PAGES - 1));
	EXPECT_REJECT(EINVAL, "with nr_lists 2 for 8 pages", r.req.nr_lists = htole32(2));
	EXPECT_REJECT(EINVAL, "with a list address more than nr_lists", r.extra_lists = 1);
	EXPECT_REJECT(EINVAL, "beyond HYV_MR_MAX_PAGES",
		      r.req.npages = htole32(HYV_MR_MAX_PAGES + 1),
		      r.req.length = htole64((uint64_t)HYV_MR_MAX_PAGES * PAGE));
	EXPECT_REJECT(EINVAL, "without room for the response", r.out_len = 8);
	EXPECT_REJECT(EOPNOTSUPP, "with on-demand paging",
		      r.req.access_flags = htole32(ACCESS | IB_UVERBS_ACCESS_ON_DEMAND));
	EXPECT_REJECT(EINVAL, "with its list outside guest RAM", r.lists[0] = htole64(UNMAPPED_IOVA));
	/* uverbs: no PD of that handle in the file. */
	EXPECT_REJECT(ENOENT, "on a bogus PD handle", r.req.pd_handle = htole32(0x7fffffff));

	memcpy(bad, gpas, sizeof(bad));
	bad[SMALL_PAGES - 1] = UNMAPPED_IOVA;
	EXPECT_REJECT(EINVAL, "of a page outside guest RAM", reg_mr_init(&r, pd, bad, SMALL_PAGES));
	bad[SMALL_PAGES - 1] = gpas[SMALL_PAGES - 1] + 8;
	EXPECT_REJECT(EINVAL, "of an unaligned page", reg_mr_init(&r, pd, bad, SMALL_PAGES));
	bad[SMALL_PAGES - 1] = ANON_IOVA;
	EXPECT_REJECT(EOPNOTSUPP, "of anonymous guest RAM", reg_mr_init(&r, pd, bad, SMALL_PAGES));
	bad[SMALL_PAGES - 1] = RAMFS_IOVA;
	EXPECT_REJECT(EOPNOTSUPP, "of a non-shmem file's page cache (ramfs)",
		      reg_mr_init(&r, pd, bad, SMALL_PAGES));
	bad[SMALL_PAGES - 1] = gpas[0];
	EXPECT_REJECT(EINVAL, "with one guest page twice", reg_mr_init(&r, pd, bad, SMALL_PAGES));
	/* The command must name a context of its own. */
	reg_mr_init(&r, pd, gpas, SMALL_PAGES);
	expect_status(reg_mr_run(HYV_MAX_CONTEXTS - 1, &r, NULL), EINVAL, "REG_MR on a closed context");
#undef EXPECT_REJECT
}

/* Object and pinned-memory quotas: beyond them the verb fails, the host is untouched. */
static void quota_checks(uint32_t ctx, uint32_t pd, const uint64_t *gpas)
{
	uint64_t max_mrs = quota_read("mrs_max"), max_pinned = quota_read("pinned_bytes_max");
	uint64_t max_pds = quota_read("pds_max");
	struct hyv_reg_mr_resp resp;
	struct reg_mr r;
	uint32_t pd2;

	quota_write("pinned_bytes_max", (SMALL_PAGES - 1) * PAGE);
	reg_mr_init(&r, pd, gpas, SMALL_PAGES);
	expect_status(reg_mr_run(ctx, &r, NULL), ENOMEM, "REG_MR beyond the pinned-bytes quota");
	expect_usage(0, 0, "after REG_MR beyond the pinned-bytes quota");
	quota_write("pinned_bytes_max", SMALL_PAGES * PAGE);
	expect_status(reg_mr_run(ctx, &r, &resp), 0, "REG_MR of exactly the pinned-bytes quota");
	quota_write("pinned_bytes_max", max_pinned);

	quota_write("mrs_max", 1);
	expect_status(reg_mr_run(ctx, &r, NULL), EAGAIN, "REG_MR beyond the MR quota");
	expect_usage(1, SMALL_PAGES, "after REG_MR beyond the MR quota");
	quota_write("mrs_max", max_mrs);
	expect_status(dereg_mr(ctx, le32toh(resp.mr_handle)), 0, "DEREG_MR of the quota MR");

	quota_write("pds_max", quota_read("pds"));
	expect_status(alloc_pd(ctx, &pd2), EAGAIN, "ALLOC_PD beyond the PD quota");
	quota_write("pds_max", max_pds);
	expect_status(alloc_pd(ctx, &pd2), 0, "ALLOC_PD once the quota is back");
	printf("cmd_fuzz: quotas: pinned bytes ENOMEM, MRs EAGAIN, PDs EAGAIN\n");
}

/* Host MRs on every RDMA device, as `rdma resource show` counts them. */
static unsigned int host_mrs(void)
{
	unsigned int total = 0, n;
	char line[512], *p;
	FILE *f = popen("rdma resource show", "r");

	if (!f)
		die("popen rdma resource show");
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, " mr ");
		if (p && sscanf(p, " mr %u", &n) == 1)
			total += n;
	}
	if (pclose(f))
		die("rdma resource show failed");
	return total;
}

static void virtio_status_write(uint8_t status)
{
	off_t off = ((off_t)VFIO_PCI_BAR0_REGION_INDEX << VFIO_REGION_SHIFT) + HYV_BAR0_COMMON_OFFSET +
		    VIRTIO_PCI_COMMON_STATUS;

	if (pwrite(vfio_device, &status, sizeof(status), off) != sizeof(status))
		die("pwrite virtio status");
}

/*
 * A guest reboot resets the device (its driver writes virtio status 0; QEMU's system_reset issues
 * VFIO_DEVICE_RESET): nothing of the old boot may survive it. An MR left alive would keep a
 * peer's old rkey writing into the new boot's memory, and leaked contexts would count against the
 * limit until EMFILE.
 */
static void reset_checks(const uint64_t *gpas)
{
	static const char *const how[] = { "virtio status 0", "VFIO_DEVICE_RESET" };
	uint64_t base_pds = quota_read("pds");
	unsigned int base_mrs = host_mrs(), i;
	struct hyv_reg_mr_resp resp;
	uint32_t ctx, pd, st;
	struct reg_mr r;

	for (i = 0; i < 2; i++) {
		expect_status(ctx_open(&ctx), 0, "CTX_OPEN before a reset");
		get_context(ctx);
		expect_status(alloc_pd(ctx, &pd), 0, "ALLOC_PD before a reset");
		reg_mr_init(&r, pd, gpas, SMALL_PAGES);
		expect_status(reg_mr_run(ctx, &r, &resp), 0, "REG_MR before a reset");
		expect(host_mrs() == base_mrs + 1, "host MRs %u after REG_MR, expected %u", host_mrs(),
		       base_mrs + 1);
		if (i == 0)
			virtio_status_write(0);
		else if (ioctl(vfio_device, VFIO_DEVICE_RESET))
			die("VFIO_DEVICE_RESET");
		expect_usage(0, 0, how[i]);
		expect(quota_read("pds") == base_pds, "quota/pds %" PRIu64 " after %s, expected %" PRIu64,
		       quota_read("pds"), how[i], base_pds);
		expect(host_mrs() == base_mrs, "host MRs %u after %s, expected %u: rkey %#x still valid",
		       host_mrs(), how[i], base_mrs, le32toh(resp.rkey));
		st = dereg_mr(ctx, le32toh(resp.mr_handle));
		expect(st == EINVAL, "DEREG_MR on a context of before %s: status %u, expected EINVAL",
		       how[i], st);
		printf("cmd_fuzz: %s released the context, its PD and its MR (rkey %#x)\n", how[i],
		       le32toh(resp.rkey));
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A registration of the whole remapped region from a thread of its own (its own command page). */
struct pinning_reg {
	uint32_t ctx, pd, status;
	int ringing;	/* set just before the doorbell */
	struct hyv_reg_mr_resp resp;
};

static void *pinning_reg_run(void *arg)
{
	struct pinning_reg *p = arg;
	uint64_t gpas[REMAP_PAGES];
	struct reg_mr r;
	uint32_t i;

	page = shm + (size_t)REG_THREAD_PAGE * PAGE;
	page_gpa = shm_gpa(REG_THREAD_PAGE);
	for (i = 0; i < REMAP_PAGES; i++)
		gpas[i] = REMAP_IOVA + (uint64_t)i * PAGE;
	reg_mr_init(&r, p->pd, gpas, REMAP_PAGES);
	__atomic_store_n(&p->ringing, 1, __ATOMIC_RELEASE);
	p->status = reg_mr_run(p->ctx, &r, &p->resp);
	return NULL;
}

/*
 * Guest RAM that QEMU unmaps while a registration holds VFIO pins in it takes no new pin for a
 * while: VFIO re-checks for pins right after its dma_unmap call, and 6.1 ends with BUG_ON when ten
 * re-checks in a row find a new one. An unmap is made to meet a registration in flight (VFIO calls
 * hyv only then; hyv/pinned_unmaps counts it); the range mapped again at once then refuses a
 * registration (EAGAIN) for about a second and accepts it afterwards. A try slower than the block
 * itself proves nothing and is run again.
 */
static void unmap_checks(int container, uint32_t ctx, uint32_t pd)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = REMAP_IOVA, .size = (uint64_t)REMAP_PAGES * PAGE,
	};
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.iova = REMAP_IOVA, .size = (uint64_t)REMAP_PAGES * PAGE,
	};
	struct pinning_reg big = { .ctx = ctx, .pd = pd };
	uint64_t gpas[SMALL_PAGES], unmaps, met_at = 0, took = 0;
	struct hyv_reg_mr_resp resp;
	uint32_t st = 0, i, tries;
	pthread_t thread;
	struct reg_mr r;
	int fd;

	fd = memfd_create("cmd_fuzz-remapped-ram", 0);
	if (fd < 0 || ftruncate(fd, (off_t)REMAP_PAGES * PAGE))
		die("memfd_create");
	map.vaddr = (uintptr_t)map_guest_ram(container, fd, REMAP_PAGES, REMAP_IOVA);
	close(fd);
	for (i = 0; i < SMALL_PAGES; i++)
		gpas[i] = REMAP_IOVA + (uint64_t)i * PAGE;
	for (tries = 0; tries < UNMAP_TRIES && !met_at; tries++) {
		unmaps = mdev_attr_read("hyv", "pinned_unmaps");
		big.ringing = 0;
		if (pthread_create(&thread, NULL, pinning_reg_run, &big))
			die("pthread_create");
		while (!__atomic_load_n(&big.ringing, __ATOMIC_ACQUIRE))
			usleep(100);
		/* Into the registration's pinning, with a later start each try. */
		usleep(tries * UNMAP_DELAY_STEP_US);
		if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap))
			die("VFIO_IOMMU_UNMAP_DMA");
		if (mdev_attr_read("hyv", "pinned_unmaps") != unmaps)
			met_at = now_ms();
		if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map))
			die("VFIO_IOMMU_MAP_DMA again");
		if (met_at) {
			reg_mr_init(&r, pd, gpas, SMALL_PAGES);
			st = reg_mr_run(ctx, &r, NULL);
			took = now_ms() - met_at;
			if (st != EAGAIN && took >= UNMAP_BLOCK_MS)
				met_at = 0;
		}
		pthread_join(thread, NULL);
		if (!big.status)
			expect_status(dereg_mr(ctx, le32toh(big.resp.mr_handle)), 0, "DEREG_MR of the pinning MR");
		big.status = EINVAL;
	}
	expect(met_at != 0, "no unmap met a registration in flight in %u tries", UNMAP_TRIES);
	expect(st == EAGAIN, "REG_MR in guest RAM unmapped under pins %" PRIu64 " ms before: status %u, expected EAGAIN",
	       took, st);
	expect_usage(0, 0, "after REG_MR in guest RAM being unmapped");
	usleep((UNMAP_BLOCK_MS + 100) * 1000);
	reg_mr_init(&r, pd, gpas, SMALL_PAGES);
	expect_status(reg_mr_run(ctx, &r, &resp), 0, "REG_MR in remapped guest RAM a second later");
	expect_status(dereg_mr(ctx, le32toh(resp.mr_handle)), 0, "DEREG_MR in remapped guest RAM");
	printf("cmd_fuzz: guest RAM unmapped under a registration's pins and mapped again: REG_MR there "
	       "EAGAIN after %" PRIu64 " ms, accepted a second later\n", took);
}

static void map_ramfs_guest_ram(int container)
{
	const char *dir = getenv("CMD_FUZZ_RAMFS");
	char path[4096];
	int fd;

	if (!dir) {
		fprintf(stderr, "cmd_fuzz: CMD_FUZZ_RAMFS is not set: name a directory on ramfs "
				"(mount -t ramfs ramfs DIR) for non-shmem guest RAM\n");
		exit(2);
	}
	snprintf(path, sizeof(path), "%s/cmd_fuzz-guest-ram", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)RAMFS_PAGES * PAGE))
		die(path);
	map_guest_ram(container, fd, RAMFS_PAGES, RAMFS_IOVA);
	close(fd);
}

void mr_checks(int container, const char *uuid)
{
	uint64_t gpas[TWO_LIST_PAGES];
	struct hyv_reg_mr_resp resp, big;
	uint32_t ctx, pd, st, i;
	uint64_t base_pds;
	struct reg_mr r;
	int fd;

	mdev_uuid = uuid;
	fd = memfd_create("cmd_fuzz-guest-ram", 0);
	if (fd < 0 || ftruncate(fd, (off_t)SHM_PAGES * PAGE))
		die("memfd_create");
	shm = map_guest_ram(container, fd, SHM_PAGES, SHM_IOVA);
	map_guest_ram(container, -1, ANON_PAGES, ANON_IOVA);
	map_ramfs_guest_ram(container);

	base_pds = quota_read("pds");
	expect_status(ctx_open(&ctx), 0, "CTX_OPEN for MRs");
	get_context(ctx);
	expect_status(alloc_pd(ctx, &pd), 0, "ALLOC_PD for MRs");
	expect_usage(0, 0, "before any REG_MR");

	/* Scattered the way guest pages are: in reverse order. */
	for (i = 0; i < SMALL_PAGES; i++)
		gpas[i] = shm_gpa(SMALL_PAGES - 1 - i);
	reg_mr_rejections(ctx, pd, gpas);

	reg_mr_init(&r, pd, gpas, SMALL_PAGES);
	st = reg_mr_run(ctx, &r, &resp);
	expect_status(st, 0, "REG_MR of 8 scattered shared pages");
	expect(!st && resp.lkey && resp.rkey, "REG_MR returned lkey %#x rkey %#x", le32toh(resp.lkey),
	       le32toh(resp.rkey));
	expect_usage(1, SMALL_PAGES, "after REG_MR");
	printf("cmd_fuzz: REG_MR of %u scattered pages: handle %u lkey %#x rkey %#x\n", SMALL_PAGES,
	       le32toh(resp.mr_handle), le32toh(resp.lkey), le32toh(resp.rkey));
	expect_status(dereg_mr(ctx, le32toh(resp.mr_handle)), 0, "DEREG_MR");
	expect_usage(0, 0, "after DEREG_MR");
	st = dereg_mr(ctx, le32toh(resp.mr_handle));
	expect(st == EINVAL || st == ENOENT, "DEREG_MR twice: status %u", st);

	quota_checks(ctx, pd, gpas);
	unmap_checks(container, ctx, pd);

	/* Two list pages; left registered for the context close to take. */
	for (i = 0; i < TWO_LIST_PAGES; i++)
		gpas[i] = shm_gpa(i);
	reg_mr_init(&r, pd, gpas, TWO_LIST_PAGES);
	expect_status(reg_mr_run(ctx, &r, &big), 0, "REG_MR of two list pages");
	expect_usage(1, TWO_LIST_PAGES, "after REG_MR of two list pages");
	expect_status(run(HYV_OP_CTX_CLOSE, ctx, NULL, 0, 0), 0, "CTX_CLOSE with an MR left");
	expect_usage(0, 0, "after CTX_CLOSE");
	expect(quota_read("pds") == base_pds, "quota/pds %" PRIu64 " after CTX_CLOSE, expected %" PRIu64,
	       quota_read("pds"), base_pds);
	printf("cmd_fuzz: REG_MR of %u pages (2 list pages) released with its context\n", (unsigned)
	       TWO_LIST_PAGES);

	for (i = 0; i < SMALL_PAGES; i++)
		gpas[i] = shm_gpa(SMALL_PAGES - 1 - i);
	reset_checks(gpas);
	close(fd);
}
