// SPDX-License-Identifier: GPL-2.0-only
/*
 * qp_loop: the data path of CQs and QPs without memory registration. Through
 * plain libibverbs (the stock provider binds), on one device: a CQ, whose
 * ring must be visible at the start of one of the process's mappings of the
 * uverbs device (rxe's queue header: log2_elem_size 7, index_mask = cqe);
 * two RC QPs connected to each other through INIT, RTR and RTS with a global
 * route to GID index GID_INDEX; then a zero-length SEND each way (no SGE, so
 * no MR), each completing on both sides through the mapped CQ ring, the
 * receives posted to the mapped RQ ring and the sends kicked by the provider.
 *
 * Run on the host device and in a guest on hyv0 alike.
 *
 * Two processes (a guest's QP against a host process's QP):
 *   qp_loop DEVICE GID_INDEX serve       prints "qp_loop: QPN n", reads the peer's QPN from stdin,
 *                                        connects, SENDs first, then waits for the peer's SEND;
 *   qp_loop DEVICE GID_INDEX join QPN    connects to QPN, posts a receive, prints
 *                                        "qp_loop: QPN n ready", waits for the SEND and answers it.
 *
 * usage: qp_loop DEVICE GID_INDEX [serve | join QPN]
 * exit 0: all worked; 1: a step failed (printed); 2: usage.
 */
#define _GNU_SOURCE
#define VERBS_PROG "qp_loop"
#include "verbs_common.h"

#define CQE 16
#define WRS 4
#define RXE_CQE_LOG2 7		/* sizeof(struct rxe_cqe) = 128 */

/* rxe's queue header, the start of every ring page set (rdma/rdma_user_rxe.h). */
struct ring_header {
	uint32_t log2_elem_size;
	uint32_t index_mask;
};

/* Finds the CQ's ring among this process's mappings of the uverbs device. */
static int find_cq_ring(uint32_t cqe)
{
	char line[512];
	FILE *maps = fopen("/proc/self/maps", "r");
	int found = 0;

	CHECK(maps, "open /proc/self/maps");
	while (fgets(line, sizeof(line), maps)) {
		unsigned long start, end;
		const struct ring_header *h;

		if (!strstr(line, "/dev/infiniband/uverbs") ||
		    sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		h = (const struct ring_header *)start;
		printf("qp_loop: uverbs mapping %#lx-%#lx: log2_elem_size %u index_mask %u\n", start,
		       end, h->log2_elem_size, h->index_mask);
		if (h->log2_elem_size == RXE_CQE_LOG2 && h->index_mask == cqe)
			found = 1;
	}
	fclose(maps);
	return found;
}

/* One QP of a two-process exchange: serve sends first, join answers. */
static void peer(struct ibv_pd *pd, struct ibv_cq *cq, const struct ibv_qp_init_attr *qia,
		 const union ibv_gid *gid, int gid_index, int serve, uint32_t remote)
{
	struct ibv_qp_init_attr attr = *qia;
	struct ibv_qp *qp = ibv_create_qp(pd, &attr);
	unsigned int got;

	CHECK(qp, "create_qp");
	if (serve) {
		printf("qp_loop: QPN %u\n", qp->qp_num);
		fflush(stdout);
		CHECK(scanf("%u", &got) == 1, "reading the peer's QPN");
		remote = got;
		to_rts(qp, remote, gid, gid_index, 0);
		post_recv0(qp);
		post_send0(qp);
		wait_wc(cq, IBV_WC_SEND);
		printf("qp_loop: SEND QP %u -> QP %u completed\n", qp->qp_num, remote);
		wait_wc(cq, IBV_WC_RECV);
		printf("qp_loop: SEND QP %u -> QP %u received\n", remote, qp->qp_num);
	} else {
		to_rts(qp, remote, gid, gid_index, 0);
		post_recv0(qp);
		printf("qp_loop: QPN %u ready\n", qp->qp_num);
		fflush(stdout);
		wait_wc(cq, IBV_WC_RECV);
		printf("qp_loop: SEND QP %u -> QP %u received\n", remote, qp->qp_num);
		post_send0(qp);
		wait_wc(cq, IBV_WC_SEND);
		printf("qp_loop: SEND QP %u -> QP %u completed\n", qp->qp_num, remote);
	}
	CHECK(!ibv_destroy_qp(qp), "destroy_qp");
}

/* Zero-length SEND from a to b; both completions through the CQ ring. */
static void send_zero(struct ibv_cq *cq, struct ibv_qp *a, struct ibv_qp *b)
{
	struct ibv_recv_wr rwr = { .wr_id = b->qp_num, .num_sge = 0 }, *bad_rwr;
	struct ibv_send_wr swr = { .wr_id = a->qp_num, .num_sge = 0, .opcode = IBV_WR_SEND,
				   .send_flags = IBV_SEND_SIGNALED }, *bad_swr;
	int got_send = 0, got_recv = 0, n, rc;
	time_t deadline = time(NULL) + POLL_SECONDS;
	struct ibv_wc wc;

	/* These return the error instead of setting errno. */
	rc = ibv_post_recv(b, &rwr, &bad_rwr);
	errno = rc;
	CHECK(!rc, "post_recv on QP %u", b->qp_num);
	rc = ibv_post_send(a, &swr, &bad_swr);
	errno = rc;
	CHECK(!rc, "post_send on QP %u", a->qp_num);
	while (!(got_send && got_recv)) {
		n = ibv_poll_cq(cq, 1, &wc);
		CHECK(n >= 0, "poll_cq");
		if (!n) {
			CHECK(time(NULL) < deadline, "no completion in %d s (send %d recv %d)",
			      POLL_SECONDS, got_send, got_recv);
			continue;
		}
		CHECK(wc.status == IBV_WC_SUCCESS, "completion wr_id %" PRIu64 " status %s",
		      wc.wr_id, ibv_wc_status_str(wc.status));
		if (wc.opcode == IBV_WC_SEND && wc.wr_id == a->qp_num) {
			got_send = 1;
		} else if (wc.opcode == IBV_WC_RECV && wc.wr_id == b->qp_num) {
			CHECK(wc.byte_len == 0, "receive of %u bytes", wc.byte_len);
			CHECK(wc.src_qp == a->qp_num || wc.src_qp == 0, "receive from QP %u", wc.src_qp);
			got_recv = 1;
		} else {
			CHECK(0, "unexpected completion opcode %d wr_id %" PRIu64, wc.opcode, wc.wr_id);
		}
	}
	printf("qp_loop: SEND QP %u -> QP %u: send and receive completions polled\n", a->qp_num,
	       b->qp_num);
}

int main(int argc, char **argv)
{
	struct ibv_qp_init_attr qia = {
		.cap = { .max_send_wr = WRS, .max_recv_wr = WRS, .max_send_sge = 1, .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
	};
	struct ibv_context *ctx;
	struct ibv_qp_init_attr got_init;
	struct ibv_qp_attr got;
	struct ibv_qp *qp[2];
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	union ibv_gid gid;
	int i, gid_index;

	int serve = argc == 4 && !strcmp(argv[3], "serve");
	int join = argc == 5 && !strcmp(argv[3], "join");

	if (argc != 3 && !serve && !join) {
		fprintf(stderr, "usage: qp_loop DEVICE GID_INDEX [serve | join QPN]\n");
		return 2;
	}
	gid_index = atoi(argv[2]);
	ctx = open_device(argv[1], gid_index, &gid);
	pd = ibv_alloc_pd(ctx);
	CHECK(pd, "alloc_pd");
	cq = ibv_create_cq(ctx, CQE, NULL, NULL, 0);
	CHECK(cq, "create_cq");
	printf("qp_loop: CQ with cqe %d\n", cq->cqe);
	CHECK(find_cq_ring(cq->cqe), "no uverbs mapping starts with the CQ ring header (log2_elem_size %d, index_mask %d)",
	      RXE_CQE_LOG2, cq->cqe);
	printf("qp_loop: CQ ring found in the process's uverbs mapping\n");

	qia.send_cq = cq;
	qia.recv_cq = cq;
	if (serve || join) {
		peer(pd, cq, &qia, &gid, gid_index, serve, join ? strtoul(argv[4], NULL, 0) : 0);
		CHECK(!ibv_destroy_cq(cq), "destroy_cq");
		CHECK(!ibv_dealloc_pd(pd), "dealloc_pd");
		ibv_close_device(ctx);
		printf("qp_loop: PASS (%s) on %s\n", serve ? "serve" : "join", argv[1]);
		return 0;
	}
	for (i = 0; i < 2; i++) {
		qp[i] = ibv_create_qp(pd, &qia);
		CHECK(qp[i], "create_qp %d", i);
	}
	printf("qp_loop: QPs %u and %u\n", qp[0]->qp_num, qp[1]->qp_num);
	to_rts(qp[0], qp[1]->qp_num, &gid, gid_index, 0);
	to_rts(qp[1], qp[0]->qp_num, &gid, gid_index, 0);
	CHECK(!ibv_query_qp(qp[0], &got, IBV_QP_STATE | IBV_QP_DEST_QPN | IBV_QP_AV, &got_init),
	      "query_qp");
	CHECK(got.qp_state == IBV_QPS_RTS, "QP %u state %d, expected RTS", qp[0]->qp_num,
	      got.qp_state);
	CHECK(got.dest_qp_num == qp[1]->qp_num, "QP %u dest_qp_num %u", qp[0]->qp_num,
	      got.dest_qp_num);
	CHECK(got.ah_attr.is_global && !memcmp(&got.ah_attr.grh.dgid, &gid, sizeof(gid)),
	      "QP %u route does not name GID %d", qp[0]->qp_num, gid_index);
	printf("qp_loop: both QPs in RTS (query_qp: state, dest QPN and DGID as set)\n");

	send_zero(cq, qp[0], qp[1]);
	send_zero(cq, qp[1], qp[0]);

	for (i = 0; i < 2; i++)
		CHECK(!ibv_destroy_qp(qp[i]), "destroy_qp %d", i);
	CHECK(!ibv_destroy_cq(cq), "destroy_cq");
	CHECK(!ibv_dealloc_pd(pd), "dealloc_pd");
	ibv_close_device(ctx);
	printf("qp_loop: PASS on %s\n", argv[1]);
	return 0;
}
