// SPDX-License-Identifier: GPL-2.0-only
/*
 * cmd_fuzz: a misbehaving guest. Two ways to reach the hyv command channel:
 *  - pci BDF: inside a nested guest as root, next to a bound virtio_hyv
 *    driver, through the function's BAR0 (sysfs resource0), with commands in
 *    its own locked page (guest-physical address from /proc/self/pagemap);
 *  - vfio UUID: in the test host, opening the mdev the way QEMU does and
 *    playing QEMU and guest at once: its page is DMA-mapped into the VFIO
 *    container at a chosen IOVA ("guest-physical"), registers go through
 *    pread/pwrite of the device fd. Fast: no nested guest.
 * Checks
 * that each malformed command is rejected with the right errno, in the status
 * register and, when the host could reach it, in the command header; that a
 * well-formed one still works; that contexts hit their quota; then throws
 * random commands at the host (CMD_FUZZ_COMMANDS of them, default 3000).
 *  - race UUID SECONDS: vfio mode's setup, then threads racing each other on
 *    one instance for SECONDS (cmd_fuzz_race.c).
 *
 * usage: cmd_fuzz pci PCI_BDF [SEED] | cmd_fuzz vfio MDEV_UUID [SEED]
 *        | cmd_fuzz race MDEV_UUID SECONDS [SEED]
 * exit 0: every check passed; 1: a check failed; 2: setup failed.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <rdma/ib_user_verbs.h>

#include <hyv/hyv_abi.h>

#include "cmd_fuzz.h"
#include "vfio_mdev.h"

#define PAGE 4096u
#define RANDOM_COMMANDS 3000u
/* A guest-physical address far above any RAM the nested guest has. */
#define UNMAPPED_GPA (1ull << 45)
#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_PFN_MASK ((1ull << 55) - 1)
#define IB_PORT_ACTIVE 4
#define IB_LINK_LAYER_ETHERNET 2

/* Where vfio mode maps its page in the container: any page-aligned IOVA. */
#define VFIO_PAGE_IOVA 0x100000ull

int failures, checks;
static volatile uint32_t *ctrl;	/* pci mode */
int vfio_device = -1;	/* vfio mode */
__thread uint8_t *page;
__thread uint64_t page_gpa;
__thread int ring_racy;
static __thread uint64_t rng_state = 0x9e3779b97f4a7c15ull;
/* The four-register sequence of a command, shared by race mode's threads. */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;

void rng_seed(uint64_t seed)
{
	rng_state ^= seed * 0x2545f4914f6cdd1dull;
}

uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

void die(const char *what)
{
	fprintf(stderr, "cmd_fuzz: %s: %s\n", what, strerror(errno));
	exit(2);
}

void expect(int ok, const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&checks, 1, __ATOMIC_RELAXED);
	if (ok)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "cmd_fuzz: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	__atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
}

static off_t vfio_reg(uint32_t off)
{
	return ((off_t)VFIO_PCI_BAR0_REGION_INDEX << VFIO_REGION_SHIFT) + HYV_BAR0_CONTROL_OFFSET + off;
}

uint32_t reg_read(uint32_t off)
{
	uint32_t value = 0;

	if (vfio_device < 0)
		return ctrl[off / 4];
	if (pread(vfio_device, &value, sizeof(value), vfio_reg(off)) != sizeof(value))
		die("pread BAR0");
	return le32toh(value);
}

void reg_write(uint32_t off, uint32_t value)
{
	if (vfio_device < 0) {
		ctrl[off / 4] = value;
		return;
	}
	value = htole32(value);
	if (pwrite(vfio_device, &value, sizeof(value), vfio_reg(off)) != sizeof(value))
		die("pwrite BAR0");
}

/* Rings the doorbell for a command at gpa, len bytes; returns the status register. */
/* A racy thread (race mode) skips the lock now and then: its registers mix with another thread's. */
uint32_t ring(uint64_t gpa, uint32_t len)
{
	int locked = !ring_racy || rng() % 4;
	uint32_t st;

	if (locked)
		pthread_mutex_lock(&ring_lock);
	reg_write(HYV_CTRL_CMD_ADDR_LO, (uint32_t)gpa);
	reg_write(HYV_CTRL_CMD_ADDR_HI, (uint32_t)(gpa >> 32));
	reg_write(HYV_CTRL_CMD_LEN, len);
	reg_write(HYV_CTRL_DOORBELL, HYV_CTRL_DOORBELL_RUN);
	st = reg_read(HYV_CTRL_STATUS);
	if (locked)
		pthread_mutex_unlock(&ring_lock);
	return st;
}

struct hyv_cmd_hdr *hdr(void)
{
	return (struct hyv_cmd_hdr *)page;
}

uint32_t resp_off(uint32_t in_len)
{
	return sizeof(struct hyv_cmd_hdr) + ((in_len + HYV_CMD_ALIGN - 1) & ~(HYV_CMD_ALIGN - 1));
}

/* Lays out a command in the page (payload copied in) and runs it. */
uint32_t run(uint32_t op, uint32_t ctx, const void *in, uint32_t in_len, uint32_t out_len)
{
	memset(page, 0, PAGE);
	hdr()->op = htole32(op);
	hdr()->ctx = htole32(ctx);
	hdr()->in_len = htole32(in_len);
	hdr()->out_len = htole32(out_len);
	if (in_len)
		memcpy(page + sizeof(struct hyv_cmd_hdr), in, in_len);
	hdr()->status = htole32(0xffffffff);
	return ring(page_gpa, resp_off(in_len) + out_len);
}

/* Expects status err in the register and in the header the host wrote. */
void expect_status(uint32_t got, uint32_t err, const char *what)
{
	expect(got == err, "%s: status %u, expected %u", what, got, err);
	expect(le32toh(hdr()->status) == err, "%s: header status %u, expected %u", what,
	       le32toh(hdr()->status), err);
}

/* The uverbs write layouts, spelled out (the uapi structs end in flexible arrays). */
struct uverbs_query_port_cmd {
	struct ib_uverbs_cmd_hdr hdr;
	uint64_t response;	/* struct ib_uverbs_query_port */
	uint8_t port_num;
	uint8_t reserved[7];
};

struct uverbs_get_context_cmd {
	struct ib_uverbs_cmd_hdr hdr;
	uint64_t response;	/* struct ib_uverbs_get_context */
};

static uint32_t query_port(uint32_t ctx, uint8_t port, uint16_t in_words, uint16_t out_words,
			   uint32_t out_len)
{
	struct uverbs_query_port_cmd c = {
		.hdr = { .command = IB_USER_VERBS_CMD_QUERY_PORT, .in_words = in_words,
			 .out_words = out_words },
		/* Garbage the host must replace with its own buffer. */
		.response = 0x4141414141414141ull,
		.port_num = port,
	};

	return run(HYV_OP_UVERBS_WRITE, ctx, &c, sizeof(c), out_len);
}

uint32_t ctx_open(uint32_t *ctx)
{
	uint32_t st = run(HYV_OP_CTX_OPEN, 0, NULL, 0, 0);

	*ctx = (uint32_t)le64toh(hdr()->value);
	return st;
}

uint32_t try_get_context(uint32_t ctx)
{
	struct uverbs_get_context_cmd c = { .hdr = { .command = IB_USER_VERBS_CMD_GET_CONTEXT, .in_words = sizeof(c) / 4,
			 .out_words = sizeof(struct ib_uverbs_get_context_resp) / 4 } };

	return run(HYV_OP_UVERBS_WRITE, ctx, &c, sizeof(c), sizeof(struct ib_uverbs_get_context_resp));
}

void get_context(uint32_t ctx)
{
	expect_status(try_get_context(ctx), 0, "GET_CONTEXT");
}

/* vfio mode: the process is QEMU; its page is "guest RAM" at VFIO_PAGE_IOVA. */
static int container = -1;	/* vfio mode: the VFIO container, for more guest RAM */

static void setup_vfio(const char *uuid)
{
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };

	vfio_device = vfio_open_mdev(uuid, &container, die);

	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		die("mmap page");
	map.vaddr = (uintptr_t)page;
	map.size = PAGE;
	map.iova = VFIO_PAGE_IOVA;
	map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map))
		die("VFIO_IOMMU_MAP_DMA");
	page_gpa = VFIO_PAGE_IOVA;
}

static void setup_pci(const char *bdf)
{
	char path[256];
	uint64_t entry;
	void *bar;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		die(path);
	bar = mmap(NULL, HYV_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar == MAP_FAILED)
		die("mmap resource0");
	ctrl = (volatile uint32_t *)((uint8_t *)bar + HYV_BAR0_CONTROL_OFFSET);

	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED,
		    -1, 0);
	if (page == MAP_FAILED)
		die("mmap page");
	memset(page, 0, PAGE);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		die("/proc/self/pagemap");
	if (pread(fd, &entry, sizeof(entry), (uintptr_t)page / PAGE * sizeof(entry)) != sizeof(entry))
		die("pagemap read");
	close(fd);
	if (!(entry & PAGEMAP_PRESENT) || !(entry & PAGEMAP_PFN_MASK)) {
		errno = EFAULT;
		die("page not present or PFN hidden (run as root)");
	}
	page_gpa = (entry & PAGEMAP_PFN_MASK) * PAGE;
}

static void directed_checks(void)
{
	uint32_t before = reg_read(HYV_CTRL_COMMANDS), failed = reg_read(HYV_CTRL_FAILED);
	struct ib_uverbs_query_port_resp *pr;
	uint32_t ctx, opened[HYV_MAX_CONTEXTS + 1], n, st, i;
	struct hyv_query_gid qg;
	uint32_t words = sizeof(struct uverbs_query_port_cmd) / 4;
	uint32_t out_words = sizeof(*pr) / 4;

	/* Registers and the doorbell itself. */
	expect(ring(UNMAPPED_GPA, 64) != 0, "command at unmapped GPA %#llx accepted",
	       (unsigned long long)UNMAPPED_GPA);
	expect(ring(page_gpa, 0) == EINVAL, "zero-length command not EINVAL");
	expect(ring(page_gpa, HYV_CMD_MAX_LEN + 1) == EINVAL, "oversized command not EINVAL");
	expect(ring(~0ull - 8, 64) == EINVAL, "wrapping command address not EINVAL");
	expect(reg_read(HYV_CTRL_COMMANDS) - before == 4, "COMMANDS counted %u of 4 doorbells",
	       reg_read(HYV_CTRL_COMMANDS) - before);
	before = reg_read(HYV_CTRL_COMMANDS);
	reg_write(HYV_CTRL_DOORBELL, 2);	/* not RUN: a bad access, nothing runs */
	reg_write(HYV_CTRL_STATUS, 0);		/* read-only */
	expect(reg_read(HYV_CTRL_COMMANDS) == before, "doorbell value 2 ran a command");
	expect(reg_read(HYV_CTRL_STATUS) == EINVAL, "STATUS was changed by a write");

	/* The send kick: on a context never opened it fails and counts; STATUS stays the last command's. */
	before = reg_read(HYV_CTRL_COMMANDS);
	n = reg_read(HYV_CTRL_FAILED);
	reg_write(HYV_CTRL_SEND_KICK, 0xffu << HYV_KICK_CTX_SHIFT | 1);
	reg_write(HYV_CTRL_SEND_KICK, (HYV_MAX_CONTEXTS - 1) << HYV_KICK_CTX_SHIFT | HYV_KICK_HANDLE_MASK);
	expect(reg_read(HYV_CTRL_COMMANDS) - before == 2, "COMMANDS counted %u of 2 kicks",
	       reg_read(HYV_CTRL_COMMANDS) - before);
	expect(reg_read(HYV_CTRL_FAILED) - n == 2, "FAILED counted %u of 2 kicks on closed contexts",
	       reg_read(HYV_CTRL_FAILED) - n);
	expect(reg_read(HYV_CTRL_STATUS) == EINVAL, "a kick changed STATUS");

	/* Headers. */
	expect_status(run(99, 0, NULL, 0, 0), EOPNOTSUPP, "op 99");
	memset(page, 0, PAGE);
	hdr()->op = htole32(HYV_OP_QUERY_GID);
	hdr()->in_len = htole32(sizeof(qg));
	expect(ring(page_gpa, 200) == EINVAL, "lengths not matching the buffer accepted");
	hdr()->in_len = htole32(0xfffffff0);
	expect(ring(page_gpa, 64) == EINVAL, "huge in_len accepted");

	/* Contexts. */
	expect_status(query_port(HYV_MAX_CONTEXTS - 1, 1, words, out_words, sizeof(*pr)), EINVAL,
		      "QUERY_PORT on a context never opened");
	expect_status(query_port(0xffffffff, 1, words, out_words, sizeof(*pr)), EINVAL,
		      "QUERY_PORT on context 0xffffffff");
	expect_status(ctx_open(&ctx), 0, "CTX_OPEN");
	get_context(ctx);

	/* uverbs commands: allow-list, word counts, response size. */
	expect_status(query_port(ctx, 1, words, out_words, sizeof(*pr)), 0, "QUERY_PORT");
	pr = (void *)(page + resp_off(sizeof(struct uverbs_query_port_cmd)));
	expect(pr->state == IB_PORT_ACTIVE, "QUERY_PORT state %u, expected ACTIVE", pr->state);
	expect(pr->link_layer == IB_LINK_LAYER_ETHERNET, "QUERY_PORT link_layer %u", pr->link_layer);
	expect(le32toh(hdr()->resp_len) == sizeof(*pr), "QUERY_PORT resp_len %u",
	       le32toh(hdr()->resp_len));
	expect_status(query_port(ctx, 7, words, out_words, sizeof(*pr)), EINVAL,
		      "QUERY_PORT of port 7");
	expect_status(query_port(ctx, 1, words + 1, out_words, sizeof(*pr)), EINVAL,
		      "in_words larger than the payload");
	expect_status(query_port(ctx, 1, words, out_words + 64, sizeof(*pr)), EINVAL,
		      "out_words larger than the response buffer");
	{
		struct ib_uverbs_cmd_hdr h = { .command = IB_USER_VERBS_CMD_REG_MR, .in_words = 2 };

		expect_status(run(HYV_OP_UVERBS_WRITE, ctx, &h, sizeof(h), 0), EOPNOTSUPP,
			      "REG_MR (not allow-listed)");
		h.command = IB_USER_VERBS_CMD_CREATE_COMP_CHANNEL;
		expect_status(run(HYV_OP_UVERBS_WRITE, ctx, &h, sizeof(h), 0), EOPNOTSUPP,
			      "CREATE_COMP_CHANNEL (not allow-listed)");
		h.command = IB_USER_VERBS_CMD_QUERY_DEVICE;
		expect_status(run(HYV_OP_UVERBS_WRITE, ctx, &h, 4, 0), EINVAL,
			      "payload shorter than the uverbs header");
	}

	/* GIDs. */
	qg.port = htole32(1);
	qg.index = htole32(0);
	expect_status(run(HYV_OP_QUERY_GID, 0, &qg, sizeof(qg), sizeof(struct hyv_gid_entry)), 0,
		      "QUERY_GID 0");
	qg.index = htole32(1u << 20);
	expect_status(run(HYV_OP_QUERY_GID, 0, &qg, sizeof(qg), sizeof(struct hyv_gid_entry)),
		      EINVAL, "QUERY_GID index 2^20");
	qg.port = htole32(0);
	qg.index = htole32(0);
	expect_status(run(HYV_OP_QUERY_GID, 0, &qg, sizeof(qg), sizeof(struct hyv_gid_entry)),
		      EINVAL, "QUERY_GID port 0");
	expect_status(run(HYV_OP_QUERY_GID, 0, &qg, sizeof(qg), 4), EINVAL,
		      "QUERY_GID with a short response buffer");

	/* Quota: contexts run out with EMFILE and come back when closed. */
	for (n = 0; n <= HYV_MAX_CONTEXTS; n++) {
		st = ctx_open(&opened[n]);
		if (st)
			break;
	}
	expect(st == EMFILE, "context quota: status %u after %u opens, expected EMFILE", st, n);
	expect(n < HYV_MAX_CONTEXTS, "%u contexts opened beyond the driver's", n);
	for (i = 0; i < n; i++)
		expect_status(run(HYV_OP_CTX_CLOSE, opened[i], NULL, 0, 0), 0, "CTX_CLOSE");
	expect_status(run(HYV_OP_CTX_CLOSE, opened[0], NULL, 0, 0), EINVAL, "double CTX_CLOSE");
	printf("cmd_fuzz: context quota reached after %u opens (EMFILE)\n", n);

	expect_status(run(HYV_OP_CTX_CLOSE, ctx, NULL, 0, 0), 0, "CTX_CLOSE");
	expect(reg_read(HYV_CTRL_FAILED) - failed >= 10, "FAILED counted only %u",
	       reg_read(HYV_CTRL_FAILED) - failed);
}

/*
 * The event ring registration. The valid one lies in the second half of the
 * command page: events the random commands' CQs may raise land there, in
 * this program's own memory. The driver registers its own ring again when it
 * binds (after the reset its unbind did).
 */
static void event_ring_checks(void)
{
	const uint64_t ring_gpa = page_gpa + PAGE / 2;
	const uint32_t fits = (PAGE / 2 - sizeof(struct hyv_event_ring_hdr)) / sizeof(struct hyv_event);
	struct hyv_event_ring r = { .addr = htole64(ring_gpa), .entries = htole32(fits) };

	expect_status(run(HYV_OP_EVENT_RING, 0, &r, sizeof(r) - 4, 0), EINVAL, "EVENT_RING short");
	expect_status(run(HYV_OP_EVENT_RING, 0, &r, sizeof(r), 8), EINVAL, "EVENT_RING with a response");
	r.entries = 0;
	expect_status(run(HYV_OP_EVENT_RING, 0, &r, sizeof(r), 0), EINVAL, "EVENT_RING of 0 entries");
	r.entries = htole32(HYV_EVENT_RING_MAX_ENTRIES + 1);
	expect_status(run(HYV_OP_EVENT_RING, 0, &r, sizeof(r), 0), EINVAL, "EVENT_RING too long");
	r.entries = htole32(fits);
	r.reserved = htole32(1);
	expect_status(run(HYV_OP_EVENT_RING, 0, &r, sizeof(r), 0), EINVAL, "EVENT_RING reserved set");
	r.reserved = 0;
	r.addr = htole64(ring_gpa + 4);
	expect_status(run(HYV_OP_EVENT_RING, 0, &r, sizeof(r), 0), EINVAL, "EVENT_RING unaligned");
	r.addr = htole64(UNMAPPED_GPA);
	expect(run(HYV_OP_EVENT_RING, 0, &r, sizeof(r), 0) != 0, "EVENT_RING at unmapped GPA accepted");
	r.addr = htole64(ring_gpa);
	expect_status(run(HYV_OP_EVENT_RING, 0, &r, sizeof(r), 0), 0, "EVENT_RING in this program's page");
	printf("cmd_fuzz: event ring registrations checked\n");
}

/* One random command, mostly on context ctx; never a CTX_CLOSE. Returns its status. */
uint32_t random_command(uint32_t ctx)
{
	static const uint32_t commands[] = {
		IB_USER_VERBS_CMD_GET_CONTEXT, IB_USER_VERBS_CMD_QUERY_DEVICE,
		IB_USER_VERBS_CMD_QUERY_PORT, IB_USER_VERBS_CMD_ALLOC_PD,
		IB_USER_VERBS_CMD_DEALLOC_PD, IB_USER_VERBS_CMD_CREATE_CQ,
		IB_USER_VERBS_CMD_REG_MR, IB_USER_VERBS_CMD_CREATE_QP,
		IB_USER_VERBS_CMD_DESTROY_CQ, IB_USER_VERBS_CMD_DESTROY_QP,
		IB_USER_VERBS_CMD_MODIFY_QP, IB_USER_VERBS_CMD_QUERY_QP,
		IB_USER_VERBS_CMD_POST_SEND, IB_USER_VERBS_CMD_DEREG_MR,
		IB_USER_VERBS_CMD_CREATE_SRQ, IB_USER_VERBS_CMD_MODIFY_SRQ,
		IB_USER_VERBS_CMD_QUERY_SRQ, IB_USER_VERBS_CMD_DESTROY_SRQ,
		IB_USER_VERBS_CMD_REQ_NOTIFY_CQ, IB_USER_VERBS_CMD_CREATE_AH,
		IB_USER_VERBS_CMD_DESTROY_AH,
	};
	static const uint32_t ops[] = { HYV_OP_UVERBS_WRITE, HYV_OP_QUERY_GID, HYV_OP_QUERY_PKEY,
					0, HYV_OP_WINDOW_RELEASE, HYV_OP_REG_MR, HYV_OP_EVENT_RING,
					HYV_OP_SET_GID, HYV_OP_QUERY_IDENTITY, 0xffffffff };
	uint32_t in_len = rng() % 512, out_len = rng() % 512, len;
	struct ib_uverbs_cmd_hdr *h;

	/* Half of them word-aligned with matching word counts: deep into uverbs. */
	if (rng() % 2) {
		in_len = (in_len | sizeof(*h)) & ~3u;
		out_len &= ~3u;
	}

	memset(page, 0, PAGE);
	for (uint32_t j = 0; j < PAGE; j++)
		page[j] = (uint8_t)rng();
	hdr()->op = htole32(ops[rng() % (sizeof(ops) / sizeof(ops[0]))]);
	hdr()->ctx = htole32(rng() % 4 ? ctx : (uint32_t)rng());
	hdr()->in_len = htole32(in_len);
	hdr()->out_len = htole32(out_len);
	h = (void *)(page + sizeof(struct hyv_cmd_hdr));
	h->command = commands[rng() % (sizeof(commands) / sizeof(commands[0]))];
	if (rng() % 2) {
		h->in_words = in_len / 4;
		h->out_words = out_len / 4;
	}
	len = rng() % 8 ? resp_off(in_len) + out_len : (uint32_t)rng() % 8192;
	/* Now and then a send kick on some QP handle of this context or another. */
	if (rng() % 8 == 0)
		reg_write(HYV_CTRL_SEND_KICK, (rng() % 4 ? ctx : (uint32_t)rng() % 256)
				<< HYV_KICK_CTX_SHIFT | (uint32_t)rng() % 64);
	return ring(rng() % 16 ? page_gpa : rng(), len);
}

/* CMD_FUZZ_COMMANDS (default RANDOM_COMMANDS) random commands on a context of their own. */
static void random_commands(void)
{
	const char *env = getenv("CMD_FUZZ_COMMANDS");
	unsigned long n = env ? strtoul(env, NULL, 0) : RANDOM_COMMANDS, i;
	unsigned long ok = 0, rejected = 0;
	uint32_t ctx;

	expect_status(ctx_open(&ctx), 0, "CTX_OPEN for random commands");
	get_context(ctx);
	for (i = 0; i < n; i++) {
		if (random_command(ctx))
			rejected++;
		else
			ok++;
	}
	expect_status(run(HYV_OP_CTX_CLOSE, ctx, NULL, 0, 0), 0, "CTX_CLOSE after random commands");
	printf("cmd_fuzz: %lu random commands: %lu ran, %lu rejected\n", n, ok, rejected);
	expect(rejected > 0, "no random command was rejected");
}

int main(int argc, char **argv)
{
	int race = argc > 1 && !strcmp(argv[1], "race");

	if (argc < 3 || (strcmp(argv[1], "pci") && strcmp(argv[1], "vfio") && !race) ||
	    (race && argc < 4)) {
		fprintf(stderr, "usage: cmd_fuzz pci PCI_BDF [SEED] | cmd_fuzz vfio MDEV_UUID [SEED]\n"
				"       | cmd_fuzz race MDEV_UUID SECONDS [SEED]\n");
		return 2;
	}
	if (argc > 3 + race)
		rng_seed(strtoull(argv[3 + race], NULL, 0));
	if (!strcmp(argv[1], "pci")) {
		setup_pci(argv[2]);
	} else {
		setup_vfio(argv[2]);
	}
	if (race) {
		race_checks(container, argv[2], (unsigned int)strtoul(argv[3], NULL, 0));
		printf("cmd_fuzz: %d checks, %d failed\n", checks, failures);
		return failures ? 1 : 0;
	}
	directed_checks();
	event_ring_checks();
	if (vfio_device >= 0) {
		queue_checks();
		mr_checks(container, argv[2]);
		cm_checks();
	}
	random_commands();
	printf("cmd_fuzz: %d checks, %d failed; commands %u, failed %u\n", checks, failures,
	       reg_read(HYV_CTRL_COMMANDS), reg_read(HYV_CTRL_FAILED));
	return failures ? 1 : 0;
}
