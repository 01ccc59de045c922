// SPDX-License-Identifier: GPL-2.0-only
/*
 * mr_write: zero-copy memory registration. Through plain libibverbs (the
 * stock provider binds), one process registers a large buffer for remote
 * write and a peer RDMA-WRITEs a pattern into it; the registering process
 * then reads the pattern in its own memory. The pattern is a function of
 * each 8-byte word's offset, so a word the device did not write (the buffer
 * starts zeroed), wrote twice or wrote to the wrong place is found.
 *
 * Run on the host device and in a guest on hyv0 alike: in a guest the
 * target's buffer is guest memory the host device writes into directly.
 *
 * Two processes, each with one RC QP routed to GID index GID_INDEX:
 *   mr_write DEVICE GID_INDEX target [MIB]
 *       registers MIB MiB (default 64) zeroed, prints
 *       "mr_write: target QPN n ADDR a RKEY k LEN l", reads the writer's QPN
 *       from stdin, connects, posts a receive for the writer's "done" SEND,
 *       SENDs "go" (zero length), waits for "done", checks every word and
 *       prints "mr_write: PASS target MIB MiB pattern verified" or
 *       "mr_write: FAIL target ..." naming the first bad offset;
 *   mr_write DEVICE GID_INDEX writer QPN ADDR RKEY LEN
 *       registers LEN bytes of pattern, connects to QPN, posts a receive for
 *       "go", prints "mr_write: writer QPN n ready", waits for "go",
 *       RDMA-WRITEs the LEN bytes to ADDR in chunks, then SENDs "done" and
 *       prints "mr_write: PASS writer LEN bytes written".
 * The writer waits for "go" because it is connected before the target is:
 * writes sent to a QP not yet in RTR are dropped, and the retries (RETRIES
 * times TIMEOUT, half a second) would run out before the shell has passed
 * the writer's QPN on under TCG. A LEN short of the target's makes the
 * target fail: how a test proves the check can fail.
 *
 * usage: mr_write DEVICE GID_INDEX target [MIB]
 *        mr_write DEVICE GID_INDEX writer QPN ADDR RKEY LEN
 * exit 0: all worked (target: the pattern is all there); 1: a step failed
 * or the pattern is wrong (printed); 2: usage.
 */
#define _GNU_SOURCE
#define VERBS_PROG "mr_write"
#include "verbs_common.h"

#include <unistd.h>

#define MIB (1024 * 1024)
#define DEFAULT_MIB 64
/* A bound on the target's size: pinned memory of a test VM. */
#define MAX_MIB 1024
/* One RDMA WRITE per chunk; several in flight keep the device busy. */
#define CHUNK MIB
#define WRITES_IN_FLIGHT 4
/* The writes in flight and the "done" SEND; one receive ("go" or "done"). */
#define SEND_WRS (WRITES_IN_FLIGHT + 1)
#define RECV_WRS 1
#define CQE (SEND_WRS + RECV_WRS)
/*
 * offset ^ SEED is never 0 for offsets below 2^62 and an odd multiplier is a
 * bijection mod 2^64: every word's value is distinct and none is 0.
 */
#define PATTERN_SEED 0x6d725f7772697465ULL	/* "mr_write" */
#define PATTERN_MULT 0x9e3779b97f4a7c15ULL	/* 2^64 / golden ratio: spreads offsets over all bytes */

static uint64_t pattern(uint64_t offset)
{
	return (offset ^ PATTERN_SEED) * PATTERN_MULT;
}

struct verbs {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	union ibv_gid gid;
	int gid_index;
};

/* Parses a whole number (decimal, or hex with 0x) or exits with usage. */
static uint64_t number(const char *s, uint64_t max)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v > max) {
		fprintf(stderr, "mr_write: bad number %s (at most %" PRIu64 ")\n", s, max);
		exit(2);
	}
	return v;
}

/* Device, PD, CQ, a page-aligned buffer of len bytes registered with access, and the QP. */
static void setup(struct verbs *v, const char *dev, size_t len, unsigned int access, void **buf)
{
	struct ibv_qp_init_attr qia = {
		.cap = { .max_send_wr = SEND_WRS, .max_recv_wr = RECV_WRS, .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
	};
	int rc;

	v->ctx = open_device(dev, v->gid_index, &v->gid);
	v->pd = ibv_alloc_pd(v->ctx);
	CHECK(v->pd, "alloc_pd");
	v->cq = ibv_create_cq(v->ctx, CQE, NULL, NULL, 0);
	CHECK(v->cq, "create_cq");
	rc = posix_memalign(buf, sysconf(_SC_PAGESIZE), len);
	errno = rc;
	CHECK(!rc, "allocating %zu bytes", len);
	v->mr = ibv_reg_mr(v->pd, *buf, len, access);
	CHECK(v->mr, "reg_mr of %zu bytes", len);
	qia.send_cq = v->cq;
	qia.recv_cq = v->cq;
	v->qp = ibv_create_qp(v->pd, &qia);
	CHECK(v->qp, "create_qp");
}

static void teardown(struct verbs *v, void *buf)
{
	CHECK(!ibv_destroy_qp(v->qp), "destroy_qp");
	CHECK(!ibv_dereg_mr(v->mr), "dereg_mr");
	free(buf);
	CHECK(!ibv_destroy_cq(v->cq), "destroy_cq");
	CHECK(!ibv_dealloc_pd(v->pd), "dealloc_pd");
	CHECK(!ibv_close_device(v->ctx), "close_device");
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int target(struct verbs *v, const char *dev, uint64_t mib)
{
	size_t len = mib * MIB, i, words = len / sizeof(uint64_t), bad = 0, first = 0;
	struct timespec t0;
	unsigned int peer;
	uint64_t *buf;

	setup(v, dev, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, (void **)&buf);
	/* Every word the writer misses stays 0, which pattern() never is. */
	memset(buf, 0, len);
	printf("mr_write: target QPN %u ADDR %#" PRIxPTR " RKEY %#x LEN %zu\n", v->qp->qp_num,
	       (uintptr_t)buf, v->mr->rkey, len);
	fflush(stdout);
	CHECK(scanf("%u", &peer) == 1, "reading the writer's QPN");
	to_rts(v->qp, peer, &v->gid, v->gid_index, IBV_ACCESS_REMOTE_WRITE);
	/* Posted before "go": the writer's "done" can only come after it. */
	post_recv0(v->qp);
	post_send0(v->qp);
	wait_wc(v->cq, IBV_WC_SEND);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("mr_write: target connected to QP %u, go sent\n", peer);
	fflush(stdout);
	/* RC delivers in order: the writes are in memory when "done" completes. */
	wait_wc(v->cq, IBV_WC_RECV);
	printf("mr_write: target done received from QP %u %.2f s after go\n", peer,
	       seconds_since(&t0));
	for (i = 0; i < words; i++) {
		if (buf[i] == pattern(i * sizeof(uint64_t)))
			continue;
		if (!bad++)
			first = i;
	}
	if (bad) {
		printf("mr_write: FAIL target offset %#zx holds %#" PRIx64 ", expected %#" PRIx64
		       " (%zu of %zu words wrong)\n", first * sizeof(uint64_t), buf[first],
		       pattern(first * sizeof(uint64_t)), bad, words);
		return 1;
	}
	teardown(v, buf);
	printf("mr_write: PASS target %" PRIu64 " MiB pattern verified\n", mib);
	return 0;
}

static void post_write(struct verbs *v, const uint64_t *src, uint64_t addr, uint32_t rkey,
		       size_t off, size_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)src + off, .length = len, .lkey = v->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = off, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_RDMA_WRITE,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = addr + off, .rkey = rkey },
	}, *bad_wr;
	int rc = ibv_post_send(v->qp, &wr, &bad_wr);

	errno = rc;
	CHECK(!rc, "RDMA WRITE of %zu bytes at offset %#zx", len, off);
}

static int writer(struct verbs *v, const char *dev, uint32_t peer, uint64_t addr, uint32_t rkey,
		  size_t len)
{
	size_t i, off = 0, posted = 0, done = 0, chunks = (len + CHUNK - 1) / CHUNK;
	struct timespec t0;
	double s;
	uint64_t *buf;

	/* The source is only read, by the device: no access flags. */
	setup(v, dev, len, 0, (void **)&buf);
	for (i = 0; i < len / sizeof(uint64_t); i++)
		buf[i] = pattern(i * sizeof(uint64_t));
	to_rts(v->qp, peer, &v->gid, v->gid_index, 0);
	post_recv0(v->qp);
	printf("mr_write: writer QPN %u ready\n", v->qp->qp_num);
	fflush(stdout);
	wait_wc(v->cq, IBV_WC_RECV);
	printf("mr_write: writer go received from QP %u\n", peer);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < chunks) {
		while (posted < chunks && posted - done < WRITES_IN_FLIGHT) {
			size_t n = len - off < CHUNK ? len - off : CHUNK;

			post_write(v, buf, addr, rkey, off, n);
			off += n;
			posted++;
		}
		wait_wc(v->cq, IBV_WC_RDMA_WRITE);
		done++;
	}
	s = seconds_since(&t0);
	printf("mr_write: writer %zu bytes in %zu RDMA WRITEs, %.2f s (%.2f MiB/s)\n", len, chunks,
	       s, s > 0 ? len / s / MIB : 0);
	post_send0(v->qp);
	wait_wc(v->cq, IBV_WC_SEND);
	printf("mr_write: writer done sent to QP %u\n", peer);
	teardown(v, buf);
	printf("mr_write: PASS writer %zu bytes written\n", len);
	return 0;
}

int main(int argc, char **argv)
{
	struct verbs v = { 0 };
	uint64_t len;
	int is_target = (argc == 4 || argc == 5) && !strcmp(argv[3], "target");
	int is_writer = argc == 8 && !strcmp(argv[3], "writer");

	if (!is_target && !is_writer) {
		fprintf(stderr, "usage: mr_write DEVICE GID_INDEX target [MIB]\n"
				"       mr_write DEVICE GID_INDEX writer QPN ADDR RKEY LEN\n");
		return 2;
	}
	v.gid_index = number(argv[2], INT32_MAX);
	if (is_target) {
		uint64_t mib = argc == 5 ? number(argv[4], MAX_MIB) : DEFAULT_MIB;

		if (!mib) {
			fprintf(stderr, "mr_write: MIB must be at least 1\n");
			return 2;
		}
		return target(&v, argv[1], mib);
	}
	len = number(argv[7], (uint64_t)MAX_MIB * MIB);
	if (!len || len % sizeof(uint64_t)) {
		fprintf(stderr, "mr_write: LEN must be a positive multiple of %zu\n", sizeof(uint64_t));
		return 2;
	}
	return writer(&v, argv[1], number(argv[4], UINT32_MAX), number(argv[5], UINT64_MAX),
		      number(argv[6], UINT32_MAX), len);
}
