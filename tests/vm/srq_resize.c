// SPDX-License-Identifier: GPL-2.0-only
/*
 * srq_resize: an SRQ grows while it holds receives. Through plain libibverbs
 * on one device: an SRQ of SMALL_WR receives, filled; ibv_modify_srq with
 * IBV_SRQ_MAX_WR to LARGE_WR, which makes the provider map the SRQ's new
 * ring (rxe: a new mmap offset); LARGE_WR - SMALL_WR more receives posted,
 * which fit only in the new ring; then LARGE_WR zero-length SENDs from one
 * RC QP to another that receives from the SRQ: every receive, those posted
 * before the resize (which the device carried over) and after, completes.
 *
 * Run on the host device and in a guest on hyv0 alike.
 *
 * usage: srq_resize DEVICE GID_INDEX
 * exit 0: all worked; 1: a step failed (printed); 2: usage.
 */
#define _GNU_SOURCE
#define VERBS_PROG "srq_resize"
#include "verbs_common.h"

#define SMALL_WR 8
#define LARGE_WR 64
#define CQE (2 * LARGE_WR)

static void post_srq_recv0(struct ibv_srq *srq, uint64_t wr_id)
{
	struct ibv_recv_wr wr = { .wr_id = wr_id, .num_sge = 0 }, *bad;
	int rc = ibv_post_srq_recv(srq, &wr, &bad);

	errno = rc;
	CHECK(!rc, "post_srq_recv %" PRIu64, wr_id);
}

/* LARGE_WR send and LARGE_WR receive completions; each receive wr_id exactly once. */
static void drain(struct ibv_cq *cq, uint32_t sender_qpn)
{
	time_t deadline = time(NULL) + POLL_SECONDS;
	char received[LARGE_WR] = { 0 };
	int sends = 0, recvs = 0, n;
	struct ibv_wc wc;

	while (sends < LARGE_WR || recvs < LARGE_WR) {
		n = ibv_poll_cq(cq, 1, &wc);
		CHECK(n >= 0, "poll_cq");
		if (!n) {
			CHECK(time(NULL) < deadline, "no completion in %d s (sends %d receives %d)",
			      POLL_SECONDS, sends, recvs);
			continue;
		}
		CHECK(wc.status == IBV_WC_SUCCESS, "completion wr_id %" PRIu64 " status %s",
		      wc.wr_id, ibv_wc_status_str(wc.status));
		if (wc.opcode == IBV_WC_SEND) {
			sends++;
			continue;
		}
		CHECK(wc.opcode == IBV_WC_RECV, "completion opcode %d", wc.opcode);
		CHECK(wc.wr_id < LARGE_WR && !received[wc.wr_id], "receive wr_id %" PRIu64
		      " unknown or seen twice", wc.wr_id);
		CHECK(wc.src_qp == sender_qpn || wc.src_qp == 0, "receive from QP %u", wc.src_qp);
		received[wc.wr_id] = 1;
		recvs++;
	}
}

int main(int argc, char **argv)
{
	struct ibv_srq_init_attr sia = { .attr = { .max_wr = SMALL_WR, .max_sge = 1 } };
	struct ibv_srq_attr sa = { .max_wr = LARGE_WR };
	struct ibv_qp_init_attr qia = {
		.cap = { .max_send_wr = LARGE_WR, .max_recv_wr = 1, .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
	};
	struct ibv_context *ctx;
	struct ibv_qp *sender, *receiver;
	struct ibv_srq *srq;
	struct ibv_cq *cq;
	struct ibv_pd *pd;
	union ibv_gid gid;
	int gid_index, i;

	if (argc != 3)
		return fprintf(stderr, "usage: srq_resize DEVICE GID_INDEX\n"), 2;
	gid_index = atoi(argv[2]);
	ctx = open_device(argv[1], gid_index, &gid);
	CHECK(pd = ibv_alloc_pd(ctx), "alloc_pd");
	CHECK(cq = ibv_create_cq(ctx, CQE, NULL, NULL, 0), "create_cq");
	CHECK(srq = ibv_create_srq(pd, &sia), "create_srq of %d", SMALL_WR);
	qia.send_cq = qia.recv_cq = cq;
	CHECK(sender = ibv_create_qp(pd, &qia), "create_qp (sender)");
	qia.srq = srq;
	CHECK(receiver = ibv_create_qp(pd, &qia), "create_qp (on the SRQ)");
	to_rts(sender, receiver->qp_num, &gid, gid_index, 0);
	to_rts(receiver, sender->qp_num, &gid, gid_index, 0);

	for (i = 0; i < SMALL_WR; i++)
		post_srq_recv0(srq, i);
	CHECK(!(errno = ibv_modify_srq(srq, &sa, IBV_SRQ_MAX_WR)), "modify_srq max_wr %d", LARGE_WR);
	memset(&sa, 0, sizeof(sa));
	CHECK(!ibv_query_srq(srq, &sa), "query_srq");
	CHECK(sa.max_wr >= LARGE_WR, "max_wr %u after resizing to %d", sa.max_wr, LARGE_WR);
	printf("srq_resize: SRQ resized from %d to max_wr %u holding %d receives\n", SMALL_WR,
	       sa.max_wr, SMALL_WR);
	for (; i < LARGE_WR; i++)
		post_srq_recv0(srq, i);

	for (i = 0; i < LARGE_WR; i++)
		post_send0(sender);
	drain(cq, sender->qp_num);
	printf("srq_resize: %d SENDs received through the resized SRQ, every receive once\n",
	       LARGE_WR);
	CHECK(!ibv_destroy_qp(receiver) && !ibv_destroy_qp(sender), "destroy_qp");
	CHECK(!ibv_destroy_srq(srq), "destroy_srq");
	CHECK(!ibv_destroy_cq(cq) && !ibv_dealloc_pd(pd) && !ibv_close_device(ctx), "teardown");
	return 0;
}
