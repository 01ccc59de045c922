// SPDX-License-Identifier: GPL-2.0-only
/*
 * cmd_fuzz, vfio mode: queue mapping. CQ, QP and SRQ rings of rxe placed in
 * BAR2, read through the process's own mapping of it; BAR2 as a quota;
 * destroyed rings' ranges reserved until released; the SRQ commands' limits.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/vfio.h>

#include <rdma/ib_user_verbs.h>
#include <rdma/rdma_user_rxe.h>

#include "cmd_fuzz.h"

#define PAGE HYV_PAGE_SIZE

#define CQ_SMALL 31		/* rxe: 32 slots, index_mask 31 */
#define CQ_QUOTA 255		/* 256 slots of 128 bytes: 9 pages */
#define CQ_HUGE 32767		/* rxe's max_cqe: a 4 MiB ring, larger than BAR2 */
#define RXE_CQE_LOG2 7		/* sizeof(struct rxe_cqe) = 128 */
#define QP_WR 16
#define QPT_RC 2
#define QPS_INIT 1
#define QP_ATTR_STATE (1 << 0)
#define QP_ATTR_ACCESS_FLAGS (1 << 3)
#define QP_ATTR_PKEY_INDEX (1 << 4)
#define QP_ATTR_PORT (1 << 5)
#define MAX_QUOTA_CQS (HYV_BAR2_SIZE / PAGE)

static uint8_t *bar2;		/* the whole window, mapped once */

struct cq_created {
	uint32_t handle, cqe;
	struct mminfo mi;
};

struct create_cq_out {
	struct ib_uverbs_create_cq_resp r;
	struct rxe_create_cq_resp rxe;
};

struct create_qp_out {
	struct ib_uverbs_create_qp_resp r;
	struct rxe_create_qp_resp rxe;
};

struct uverbs_destroy_cmd {
	struct ib_uverbs_cmd_hdr hdr;
	uint64_t response;
	uint32_t handle, reserved;
};

/* A uverbs write command: header (word counts from the sizes), then body. */
uint32_t run_uverbs(uint32_t ctx, uint32_t command, const void *body, uint32_t body_len,
			   uint32_t out_len)
{
	uint8_t buf[512];
	struct ib_uverbs_cmd_hdr h = { .command = command,
				       .in_words = (sizeof(h) + body_len) / 4,
				       .out_words = out_len / 4 };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), body, body_len);
	return run(HYV_OP_UVERBS_WRITE, ctx, buf, sizeof(h) + body_len, out_len);
}

/* Where run_uverbs() finds the response of a body_len command. */
void *uverbs_resp(uint32_t body_len)
{
	return page + resp_off(sizeof(struct ib_uverbs_cmd_hdr) + body_len);
}

static uint32_t create_cq(uint32_t ctx, uint32_t cqe, int32_t comp_channel, uint32_t out_len,
			  struct cq_created *out)
{
	struct ib_uverbs_create_cq c = {
		.response = 0x4141414141414141ull, .cqe = cqe, .comp_channel = comp_channel,
	};
	uint32_t st = run_uverbs(ctx, IB_USER_VERBS_CMD_CREATE_CQ, &c, sizeof(c), out_len);
	struct create_cq_out *o = uverbs_resp(sizeof(c));

	if (!st && out) {
		out->handle = o->r.cq_handle;
		out->cqe = o->r.cqe;
		out->mi = o->rxe.mi;
	}
	return st;
}

/* A CQ of cqe entries on ctx, no completion channel; *handle gets its handle. */
uint32_t create_cq_handle(uint32_t ctx, uint32_t cqe, uint32_t *handle)
{
	struct cq_created cq;
	uint32_t st = create_cq(ctx, cqe, -1, sizeof(struct create_cq_out), &cq);

	*handle = st ? 0 : cq.handle;
	return st;
}

static uint32_t destroy(uint32_t ctx, uint32_t command, uint32_t handle, uint32_t resp_len)
{
	struct uverbs_destroy_cmd c = {
		.hdr = { .command = command, .in_words = sizeof(c) / 4, .out_words = resp_len / 4 },
		.response = 0x4141414141414141ull,
		.handle = handle,
	};

	return run(HYV_OP_UVERBS_WRITE, ctx, &c, sizeof(c), resp_len);
}

uint32_t destroy_cq(uint32_t ctx, uint32_t handle)
{
	return destroy(ctx, IB_USER_VERBS_CMD_DESTROY_CQ, handle,
		       sizeof(struct ib_uverbs_destroy_cq_resp));
}

static uint32_t window_release(uint32_t ctx, uint64_t offset)
{
	struct hyv_window_release r = { .offset = htole64(offset) };

	return run(HYV_OP_WINDOW_RELEASE, ctx, &r, sizeof(r), 0);
}

/* uverbs' answer to a handle that names no object of the file. */
static int is_bad_handle(uint32_t st)
{
	return st == ENOENT || st == EINVAL;
}

static const struct rxe_queue_buf *ring_at(uint64_t offset)
{
	return (const struct rxe_queue_buf *)(bar2 + offset);
}

/* A window page no queue owns is the instance's private zeroed page: nothing of the host's. */
static int page_is_private(uint64_t offset)
{
	const struct rxe_queue_buf *q = ring_at(offset);

	return q->log2_elem_size == 0 && q->index_mask == 0;
}

uint32_t alloc_pd(uint32_t ctx, uint32_t *pd)
{
	struct ib_uverbs_alloc_pd c = { .response = 0x4141414141414141ull };
	uint32_t st = run_uverbs(ctx, IB_USER_VERBS_CMD_ALLOC_PD, &c, sizeof(c),
				 sizeof(struct ib_uverbs_alloc_pd_resp));

	*pd = ((struct ib_uverbs_alloc_pd_resp *)uverbs_resp(sizeof(c)))->pd_handle;
	return st;
}

static int ring_inside(const struct mminfo *mi)
{
	return mi->size && mi->size % PAGE == 0 && mi->offset % PAGE == 0 &&
	       mi->offset + mi->size <= HYV_BAR2_SIZE;
}

static void qp_checks(uint32_t ctx)
{
	struct ib_uverbs_create_qp cq_cmd = {
		.response = 0x4141414141414141ull,
		.max_send_wr = QP_WR, .max_recv_wr = QP_WR, .max_send_sge = 1, .max_recv_sge = 1,
		.qp_type = QPT_RC,
	};
	struct ib_uverbs_modify_qp m = {
		.attr_mask = QP_ATTR_STATE | QP_ATTR_PKEY_INDEX | QP_ATTR_PORT | QP_ATTR_ACCESS_FLAGS,
		.qp_state = QPS_INIT, .port_num = 1,
	};
	struct ib_uverbs_query_qp q = { .response = 0x4141414141414141ull,
					.attr_mask = QP_ATTR_STATE };
	struct ib_uverbs_post_send ps = {
		.response = 0x4141414141414141ull,
		.wqe_size = 1u << 30,	/* forced to a sane value by the host */
	};
	struct ib_uverbs_query_qp_resp *qr;
	struct create_qp_out o;
	struct cq_created cq;
	uint32_t pd, st;

	expect_status(alloc_pd(ctx, &pd), 0, "ALLOC_PD for the QP");
	expect_status(create_cq(ctx, CQ_SMALL, -1, sizeof(struct create_cq_out), &cq), 0,
		      "CREATE_CQ for the QP");
	cq_cmd.pd_handle = pd;
	cq_cmd.send_cq_handle = cq.handle;
	cq_cmd.recv_cq_handle = cq.handle;
	st = run_uverbs(ctx, IB_USER_VERBS_CMD_CREATE_QP, &cq_cmd, sizeof(cq_cmd), sizeof(o));
	expect_status(st, 0, "CREATE_QP");
	if (st)
		return;
	memcpy(&o, uverbs_resp(sizeof(cq_cmd)), sizeof(o));
	printf("cmd_fuzz: QP %u qpn %u: RQ ring at BAR2+%#llx (%u bytes), SQ ring at BAR2+%#llx (%u bytes)\n",
	       o.r.qp_handle, o.r.qpn, (unsigned long long)o.rxe.rq_mi.offset, o.rxe.rq_mi.size,
	       (unsigned long long)o.rxe.sq_mi.offset, o.rxe.sq_mi.size);
	expect(ring_inside(&o.rxe.rq_mi) && ring_inside(&o.rxe.sq_mi), "QP rings not inside BAR2");
	if (ring_inside(&o.rxe.rq_mi) && ring_inside(&o.rxe.sq_mi)) {
		expect(ring_at(o.rxe.rq_mi.offset)->index_mask + 1 >= QP_WR,
		       "RQ ring index_mask %u for %u WRs", ring_at(o.rxe.rq_mi.offset)->index_mask,
		       QP_WR);
		expect(ring_at(o.rxe.sq_mi.offset)->index_mask + 1 >= QP_WR,
		       "SQ ring index_mask %u for %u WRs", ring_at(o.rxe.sq_mi.offset)->index_mask,
		       QP_WR);
		expect(ring_at(o.rxe.sq_mi.offset)->log2_elem_size >= RXE_CQE_LOG2,
		       "SQ ring log2_elem_size %u", ring_at(o.rxe.sq_mi.offset)->log2_elem_size);
	}

	m.qp_handle = o.r.qp_handle;
	expect_status(run_uverbs(ctx, IB_USER_VERBS_CMD_MODIFY_QP, &m, sizeof(m), 0), 0,
		      "MODIFY_QP to INIT");
	q.qp_handle = o.r.qp_handle;
	expect_status(run_uverbs(ctx, IB_USER_VERBS_CMD_QUERY_QP, &q, sizeof(q), sizeof(*qr)), 0,
		      "QUERY_QP");
	qr = uverbs_resp(sizeof(q));
	expect(qr->qp_state == QPS_INIT, "QUERY_QP state %u, expected INIT", qr->qp_state);

	/* POST_SEND: only the kick (no WRs); rxe may refuse it before RTS, but it must run. */
	ps.qp_handle = o.r.qp_handle;
	st = run_uverbs(ctx, IB_USER_VERBS_CMD_POST_SEND, &ps, sizeof(ps),
			sizeof(struct ib_uverbs_post_send_resp));
	expect(st == 0 || st == EINVAL, "POST_SEND kick status %u", st);
	ps.wr_count = 1;
	expect_status(run_uverbs(ctx, IB_USER_VERBS_CMD_POST_SEND, &ps, sizeof(ps),
				 sizeof(struct ib_uverbs_post_send_resp)), EOPNOTSUPP,
		      "POST_SEND with a work request");

	st = destroy_cq(ctx, cq.handle);
	expect(st == EBUSY || st == EINVAL, "DESTROY_CQ of a CQ a QP uses: status %u", st);
	expect_status(destroy(ctx, IB_USER_VERBS_CMD_DESTROY_QP, o.r.qp_handle,
			      sizeof(struct ib_uverbs_destroy_qp_resp)), 0, "DESTROY_QP");
	expect(page_is_private(o.rxe.sq_mi.offset) && page_is_private(o.rxe.rq_mi.offset),
	       "QP rings still mapped after DESTROY_QP");
	expect_status(window_release(ctx, o.rxe.sq_mi.offset), 0, "WINDOW_RELEASE of the SQ ring");
	expect_status(window_release(ctx, o.rxe.rq_mi.offset), 0, "WINDOW_RELEASE of the RQ ring");
	st = destroy(ctx, IB_USER_VERBS_CMD_DESTROY_QP, o.r.qp_handle,
		     sizeof(struct ib_uverbs_destroy_qp_resp));
	expect(is_bad_handle(st), "DESTROY_QP twice: status %u", st);
	expect_status(destroy_cq(ctx, cq.handle), 0, "DESTROY_CQ after its QP");
}

#define SRQ_WR 64
#define SRQ_LIMIT 8
#define SRQ_ATTR_MAX_WR (1 << 0)
#define SRQ_ATTR_LIMIT (1 << 1)

/*
 * The SRQ commands' structs end in flexible arrays, so the provider's part
 * goes next to them rather than inside a struct.
 */
/*
 * MODIFY_SRQ, with rxe's udata unless bare: where rxe would write a resized
 * ring's mminfo, an address in QEMU the host must replace. The write ABI
 * gives MODIFY_SRQ no response (out_words 0); a resize answers with the new
 * ring's mminfo in the command's response buffer (out_len).
 */
static uint32_t modify_srq(uint32_t ctx, const struct ib_uverbs_modify_srq *m, int bare,
			   uint32_t out_len)
{
	struct rxe_modify_srq_cmd rxe = { .mmap_info_addr = 0x4141414141414000ull };
	uint8_t buf[sizeof(struct ib_uverbs_cmd_hdr) + sizeof(*m) + sizeof(rxe)];
	uint32_t len = bare ? sizeof(buf) - sizeof(rxe) : sizeof(buf);
	struct ib_uverbs_cmd_hdr h = { .command = IB_USER_VERBS_CMD_MODIFY_SRQ, .in_words = len / 4 };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), m, sizeof(*m));
	memcpy(buf + sizeof(h) + sizeof(*m), &rxe, sizeof(rxe));
	return run(HYV_OP_UVERBS_WRITE, ctx, buf, len, out_len);
}

/* A resize: the new ring replaces the old in BAR2, whose range waits for its release. */
static void srq_resize_checks(uint32_t ctx, struct ib_uverbs_modify_srq *m, struct mminfo *ring)
{
	const struct mminfo *mi = uverbs_resp(sizeof(*m) + sizeof(struct rxe_modify_srq_cmd));
	struct mminfo old = *ring;
	uint32_t st;

	m->attr_mask = SRQ_ATTR_MAX_WR;
	expect_status(modify_srq(ctx, m, 0, 0), EINVAL, "MODIFY_SRQ resizing without room for the mminfo");
	expect_status(modify_srq(ctx, m, 1, sizeof(*mi)), EINVAL, "MODIFY_SRQ resizing without rxe's command");
	m->attr_mask = SRQ_ATTR_MAX_WR | SRQ_ATTR_LIMIT;
	st = modify_srq(ctx, m, 0, sizeof(*mi));
	expect_status(st, 0, "MODIFY_SRQ resizing and setting the limit");
	if (st)
		return;
	*ring = *mi;
	printf("cmd_fuzz: SRQ resized to %u WRs: ring moved from BAR2+%#llx to BAR2+%#llx, %u bytes\n",
	       m->max_wr, (unsigned long long)old.offset, (unsigned long long)ring->offset, ring->size);
	expect(ring_inside(ring), "resized SRQ ring offset %#llx size %u not pages inside BAR2",
	       (unsigned long long)ring->offset, ring->size);
	expect(ring->offset != old.offset, "resized SRQ ring in the old ring's place");
	if (ring_inside(ring))
		expect(ring_at(ring->offset)->index_mask + 1 >= m->max_wr,
		       "resized SRQ ring index_mask %u for %u WRs", ring_at(ring->offset)->index_mask,
		       m->max_wr);
	expect(page_is_private(old.offset), "the old SRQ ring still mapped after the resize");
	expect_status(window_release(ctx, old.offset), 0, "WINDOW_RELEASE of the old SRQ ring");
}

static void srq_checks(uint32_t ctx)
{
	struct ib_uverbs_create_srq c = { .response = 0x4141414141414141ull, .max_wr = SRQ_WR,
					  .max_sge = 1 };
	struct ib_uverbs_create_qp qc = {
		.response = 0x4141414141414141ull,
		.max_send_wr = QP_WR, .max_send_sge = 1, .is_srq = 1, .qp_type = QPT_RC,
	};
	struct ib_uverbs_modify_srq m = { .attr_mask = SRQ_ATTR_MAX_WR, .max_wr = 2 * SRQ_WR };
	struct ib_uverbs_query_srq q = { .response = 0x4141414141414141ull };
	struct ib_uverbs_query_srq_resp *qr;
	struct create_qp_out qo;
	struct ib_uverbs_create_srq_resp r;
	struct rxe_create_srq_resp rxe;
	struct cq_created cq;
	uint32_t pd, st;

	expect_status(alloc_pd(ctx, &pd), 0, "ALLOC_PD for the SRQ");
	c.pd_handle = pd;
	expect_status(run_uverbs(ctx, IB_USER_VERBS_CMD_CREATE_SRQ, &c, sizeof(c),
				 sizeof(struct ib_uverbs_create_srq_resp)), EINVAL,
		      "CREATE_SRQ without room for the provider's mminfo");
	st = run_uverbs(ctx, IB_USER_VERBS_CMD_CREATE_SRQ, &c, sizeof(c), sizeof(r) + sizeof(rxe));
	expect_status(st, 0, "CREATE_SRQ");
	if (st)
		return;
	memcpy(&r, uverbs_resp(sizeof(c)), sizeof(r));
	memcpy(&rxe, (uint8_t *)uverbs_resp(sizeof(c)) + sizeof(r), sizeof(rxe));
	printf("cmd_fuzz: SRQ %u (max_wr %u): ring at BAR2+%#llx, %u bytes\n", r.srq_handle,
	       r.max_wr, (unsigned long long)rxe.mi.offset, rxe.mi.size);
	expect(ring_inside(&rxe.mi), "SRQ ring offset %#llx size %u not pages inside BAR2",
	       (unsigned long long)rxe.mi.offset, rxe.mi.size);
	if (ring_inside(&rxe.mi))
		expect(ring_at(rxe.mi.offset)->index_mask + 1 >= SRQ_WR,
		       "SRQ ring index_mask %u for %u WRs", ring_at(rxe.mi.offset)->index_mask,
		       SRQ_WR);

	m.srq_handle = r.srq_handle;
	m.srq_limit = SRQ_LIMIT;
	srq_resize_checks(ctx, &m, &rxe.mi);
	m.attr_mask = SRQ_ATTR_LIMIT;
	expect_status(modify_srq(ctx, &m, 0, 0), 0, "MODIFY_SRQ of the limit");
	m.attr_mask = 0x80;
	expect_status(modify_srq(ctx, &m, 0, 0), EOPNOTSUPP, "MODIFY_SRQ of an unknown attribute");
	q.srq_handle = r.srq_handle;
	expect_status(run_uverbs(ctx, IB_USER_VERBS_CMD_QUERY_SRQ, &q, sizeof(q), sizeof(*qr)), 0,
		      "QUERY_SRQ");
	qr = uverbs_resp(sizeof(q));
	expect(qr->srq_limit == SRQ_LIMIT && qr->max_wr >= 2 * SRQ_WR,
	       "QUERY_SRQ: limit %u max_wr %u, expected %u and at least %u", qr->srq_limit,
	       qr->max_wr, SRQ_LIMIT, 2 * SRQ_WR);

	/* A QP on the SRQ: no receive ring of its own. */
	expect_status(create_cq(ctx, CQ_SMALL, -1, sizeof(struct create_cq_out), &cq), 0,
		      "CREATE_CQ for the SRQ's QP");
	qc.pd_handle = pd;
	qc.send_cq_handle = cq.handle;
	qc.recv_cq_handle = cq.handle;
	qc.srq_handle = r.srq_handle;
	st = run_uverbs(ctx, IB_USER_VERBS_CMD_CREATE_QP, &qc, sizeof(qc), sizeof(qo));
	expect_status(st, 0, "CREATE_QP on the SRQ");
	if (!st) {
		memcpy(&qo, uverbs_resp(sizeof(qc)), sizeof(qo));
		expect(qo.rxe.rq_mi.size == 0 && ring_inside(&qo.rxe.sq_mi),
		       "QP on the SRQ: RQ ring of %u bytes, SQ ring inside BAR2: %d", qo.rxe.rq_mi.size,
		       ring_inside(&qo.rxe.sq_mi));
		st = destroy(ctx, IB_USER_VERBS_CMD_DESTROY_SRQ, r.srq_handle,
			     sizeof(struct ib_uverbs_destroy_srq_resp));
		expect(st == EBUSY || st == EINVAL, "DESTROY_SRQ of an SRQ a QP uses: status %u", st);
		expect_status(destroy(ctx, IB_USER_VERBS_CMD_DESTROY_QP, qo.r.qp_handle,
				      sizeof(struct ib_uverbs_destroy_qp_resp)), 0,
			      "DESTROY_QP on the SRQ");
		expect_status(window_release(ctx, qo.rxe.sq_mi.offset), 0,
			      "WINDOW_RELEASE of the SRQ QP's SQ ring");
	}
	expect_status(destroy_cq(ctx, cq.handle), 0, "DESTROY_CQ of the SRQ's QP");
	expect_status(window_release(ctx, cq.mi.offset), 0, "WINDOW_RELEASE of that CQ");

	expect_status(destroy(ctx, IB_USER_VERBS_CMD_DESTROY_SRQ, r.srq_handle,
			      sizeof(struct ib_uverbs_destroy_srq_resp)), 0, "DESTROY_SRQ");
	expect(page_is_private(rxe.mi.offset), "SRQ ring still mapped after DESTROY_SRQ");
	expect_status(window_release(ctx, rxe.mi.offset), 0, "WINDOW_RELEASE of the SRQ ring");
	st = destroy(ctx, IB_USER_VERBS_CMD_DESTROY_SRQ, r.srq_handle,
		     sizeof(struct ib_uverbs_destroy_srq_resp));
	expect(is_bad_handle(st), "DESTROY_SRQ twice: status %u", st);
}

void queue_checks(void)
{
	struct cq_created cq, quota[MAX_QUOTA_CQS];
	uint32_t ctx, st, n, i;

	bar2 = mmap(NULL, HYV_BAR2_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, vfio_device,
		    (off_t)VFIO_PCI_BAR2_REGION_INDEX << VFIO_REGION_SHIFT);
	if (bar2 == MAP_FAILED)
		die("mmap BAR2");
	expect_status(ctx_open(&ctx), 0, "CTX_OPEN for queues");
	get_context(ctx);

	/* comp_channel 0 is this process's stdin, not a channel: the host must force -1. */
	st = create_cq(ctx, CQ_SMALL, 0, sizeof(struct create_cq_out), &cq);
	expect_status(st, 0, "CREATE_CQ");
	if (!st) {
		printf("cmd_fuzz: CQ %u (cqe %u): ring at BAR2+%#llx, %u bytes\n", cq.handle, cq.cqe,
		       (unsigned long long)cq.mi.offset, cq.mi.size);
		expect(ring_inside(&cq.mi), "CQ ring offset %#llx size %u not pages inside BAR2",
		       (unsigned long long)cq.mi.offset, cq.mi.size);
	}
	if (!st && ring_inside(&cq.mi)) {
		expect(ring_at(cq.mi.offset)->log2_elem_size == RXE_CQE_LOG2,
		       "CQ ring log2_elem_size %u, expected %u", ring_at(cq.mi.offset)->log2_elem_size,
		       RXE_CQE_LOG2);
		expect(ring_at(cq.mi.offset)->index_mask == cq.cqe,
		       "CQ ring index_mask %u, expected cqe %u", ring_at(cq.mi.offset)->index_mask,
		       cq.cqe);
		/* Beyond the allocation: the private page, not host memory. */
		if (cq.mi.offset + cq.mi.size < HYV_BAR2_SIZE)
			expect(page_is_private(cq.mi.offset + cq.mi.size),
			       "the page after the CQ ring is not a private page");
		expect_status(destroy_cq(ctx, cq.handle), 0, "DESTROY_CQ");
		expect(page_is_private(cq.mi.offset), "CQ ring still mapped after DESTROY_CQ");
		st = destroy_cq(ctx, cq.handle);
		expect(is_bad_handle(st), "DESTROY_CQ twice: status %u", st);
		expect_status(window_release(ctx, cq.mi.offset), 0, "WINDOW_RELEASE after DESTROY_CQ");
	}
	st = destroy_cq(ctx, 0x7fffffff);
	expect(is_bad_handle(st), "DESTROY_CQ of a bogus handle: status %u", st);
	expect_status(destroy_cq(HYV_MAX_CONTEXTS - 1, 0), EINVAL, "DESTROY_CQ on a closed context");
	expect_status(create_cq(ctx, CQ_SMALL, -1, sizeof(struct ib_uverbs_create_cq_resp), NULL),
		      EINVAL, "CREATE_CQ without room for the provider's mminfo");
	expect_status(create_cq(ctx, CQ_HUGE, -1, sizeof(struct create_cq_out), NULL), ENOSPC,
		      "CREATE_CQ with a ring larger than BAR2");

	/* BAR2 is a quota: CQs until ENOSPC, one freed, one fits again. */
	for (n = 0; n < MAX_QUOTA_CQS; n++) {
		st = create_cq(ctx, CQ_QUOTA, -1, sizeof(struct create_cq_out), &quota[n]);
		if (st)
			break;
	}
	expect(st == ENOSPC, "BAR2 quota: status %u after %u CQs, expected ENOSPC", st, n);
	expect(n > 0, "no CQ fit in BAR2");
	printf("cmd_fuzz: BAR2 full after %u CQs of %u bytes (ENOSPC)\n", n,
	       n ? quota[0].mi.size : 0);
	if (n > 0) {
		uint64_t freed = quota[n / 2].mi.offset;

		expect_status(window_release(ctx, freed), EBUSY, "WINDOW_RELEASE of a live ring");
		expect_status(destroy_cq(ctx, quota[n / 2].handle), 0, "DESTROY_CQ in a full BAR2");
		/* Retired, not free: a guest process may still map it. */
		expect_status(create_cq(ctx, CQ_QUOTA, -1, sizeof(struct create_cq_out), NULL), ENOSPC,
			      "CREATE_CQ into a destroyed but unreleased range");
		expect_status(window_release(HYV_MAX_CONTEXTS - 1, freed), EINVAL,
			      "WINDOW_RELEASE on another (closed) context");
		expect_status(window_release(ctx, freed + 1), EINVAL, "WINDOW_RELEASE unaligned");
		expect_status(window_release(ctx, HYV_BAR2_SIZE), EINVAL,
			      "WINDOW_RELEASE beyond BAR2");
		expect_status(window_release(ctx, freed), 0, "WINDOW_RELEASE");
		expect_status(window_release(ctx, freed), EINVAL, "WINDOW_RELEASE twice");
		expect_status(create_cq(ctx, CQ_QUOTA, -1, sizeof(struct create_cq_out), &quota[n / 2]), 0,
			      "CREATE_CQ after one was released");
		expect(quota[n / 2].mi.offset == freed, "released range %#llx not reused (got %#llx)",
		       (unsigned long long)freed, (unsigned long long)quota[n / 2].mi.offset);
		expect(ring_at(quota[n / 2].mi.offset)->log2_elem_size == RXE_CQE_LOG2,
		       "reused BAR2 range does not show the new ring");
	}
	/* Half are destroyed here; the context close takes the rest back. */
	for (i = 0; i < n; i += 2) {
		expect_status(destroy_cq(ctx, quota[i].handle), 0, "DESTROY_CQ of a quota CQ");
		expect_status(window_release(ctx, quota[i].mi.offset), 0, "WINDOW_RELEASE of a quota CQ");
	}

	qp_checks(ctx);
	srq_checks(ctx);
	ah_checks(ctx);

	expect_status(run(HYV_OP_CTX_CLOSE, ctx, NULL, 0, 0), 0, "CTX_CLOSE with CQs left");
	for (i = 1; i < n; i += 2)
		expect(page_is_private(quota[i].mi.offset), "CQ ring at %#llx mapped after CTX_CLOSE",
		       (unsigned long long)quota[i].mi.offset);
	munmap(bar2, HYV_BAR2_SIZE);
	bar2 = NULL;
}
