// SPDX-License-Identifier: GPL-2.0-only
/*
 * cmd_fuzz, vfio mode: address handles. CREATE_AH with the fields a hostile
 * guest controls (GID index, port, GRH, PD, response size), DESTROY_AH of
 * bogus and destroyed handles.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rdma/ib_user_verbs.h>
#include <rdma/rdma_user_rxe.h>

#include "cmd_fuzz.h"

/* The uverbs response (ah_handle; its flexible driver_data is rxe's response). */
struct create_ah_out {
	uint32_t ah_handle;
	struct rxe_create_ah_resp rxe;
};

static uint32_t create_ah(uint32_t ctx, const struct ib_uverbs_create_ah *c, uint32_t out_len,
			  struct create_ah_out *out)
{
	uint32_t st = run_uverbs(ctx, IB_USER_VERBS_CMD_CREATE_AH, c, sizeof(*c), out_len);

	if (!st && out)
		memcpy(out, uverbs_resp(sizeof(*c)), sizeof(*out));
	return st;
}

static uint32_t destroy_ah(uint32_t ctx, uint32_t handle)
{
	struct ib_uverbs_destroy_ah c = { .ah_handle = handle };

	return run_uverbs(ctx, IB_USER_VERBS_CMD_DESTROY_AH, &c, sizeof(c), 0);
}

/* An AH to the host's own link-local GID (index 0): its MAC comes from the GID, no ARP. */
static void ah_to_gid0(struct ib_uverbs_create_ah *c, uint32_t pd)
{
	struct hyv_query_gid qg = { .port = htole32(1), .index = htole32(0) };
	struct hyv_gid_entry *e = (struct hyv_gid_entry *)(page + resp_off(sizeof(qg)));

	memset(c, 0, sizeof(*c));
	expect_status(run(HYV_OP_QUERY_GID, 0, &qg, sizeof(qg), sizeof(*e)), 0, "QUERY_GID 0 for an AH");
	c->response = 0x4141414141414141ull;
	c->pd_handle = pd;
	c->attr.port_num = 1;
	c->attr.is_global = 1;
	c->attr.grh.hop_limit = 1;
	memcpy(c->attr.grh.dgid, e->raw, sizeof(c->attr.grh.dgid));
}

/* The GIDs the instance sees: entries up to the first empty one (identity or unisolated view). */
static uint32_t gid_view_len(void)
{
	struct hyv_gid_entry *e;
	struct hyv_query_gid qg = { .port = htole32(1) };
	static const uint8_t zero[sizeof(e->raw)];
	uint32_t i;

	for (i = 0; i < HYV_GID_TABLE_LEN; i++) {
		qg.index = htole32(i);
		e = (struct hyv_gid_entry *)(page + resp_off(sizeof(qg)));
		if (run(HYV_OP_QUERY_GID, 0, &qg, sizeof(qg), sizeof(*e)) || !memcmp(e->raw, zero, sizeof(zero)))
			break;
	}
	return i;
}

void ah_checks(uint32_t ctx)
{
	uint32_t view = gid_view_len();
	struct ib_uverbs_create_ah c;
	struct create_ah_out out;
	uint32_t pd, st;

	expect_status(alloc_pd(ctx, &pd), 0, "ALLOC_PD for AHs");
	ah_to_gid0(&c, pd);
	st = create_ah(ctx, &c, sizeof(out), &out);
	expect_status(st, 0, "CREATE_AH to GID 0");
	if (!st) {
		printf("cmd_fuzz: AH %u (rxe ah_num %u)\n", out.ah_handle, out.rxe.ah_num);
		expect(out.rxe.ah_num != 0, "CREATE_AH: rxe returned no ah_num");
		expect_status(destroy_ah(ctx, out.ah_handle), 0, "DESTROY_AH");
		st = destroy_ah(ctx, out.ah_handle);
		expect(st == EINVAL || st == ENOENT, "DESTROY_AH twice: status %u", st);
	}
	st = destroy_ah(ctx, 0x7fffffff);
	expect(st == EINVAL || st == ENOENT, "DESTROY_AH of a bogus handle: status %u", st);

	printf("cmd_fuzz: the instance sees %u GIDs\n", view);
	expect(view > 0, "the instance sees no GID");
	/* Unisolated, the index past the view is the host's empty entry: ib_core says ENODATA. */
	c.attr.grh.sgid_index = view;
	st = create_ah(ctx, &c, sizeof(out), NULL);
	expect(st == EINVAL || st == ENODATA,
	       "CREATE_AH with the first GID index past the instance's view: status %u", st);
	c.attr.grh.sgid_index = HYV_GID_TABLE_LEN;
	expect_status(create_ah(ctx, &c, sizeof(out), NULL), EINVAL,
		      "CREATE_AH with a GID index beyond the guest's table");
	c.attr.grh.sgid_index = 0xff;
	expect_status(create_ah(ctx, &c, sizeof(out), NULL), EINVAL, "CREATE_AH with GID index 255");
	ah_to_gid0(&c, pd);
	c.attr.is_global = 0;
	expect_status(create_ah(ctx, &c, sizeof(out), NULL), EINVAL, "CREATE_AH without a GRH on RoCE");
	ah_to_gid0(&c, pd);
	c.attr.port_num = 0;
	expect_status(create_ah(ctx, &c, sizeof(out), NULL), EINVAL, "CREATE_AH on port 0");
	c.attr.port_num = 2;
	expect_status(create_ah(ctx, &c, sizeof(out), NULL), EINVAL, "CREATE_AH on port 2");
	ah_to_gid0(&c, pd);
	c.pd_handle = 0x7fffffff;
	st = create_ah(ctx, &c, sizeof(out), NULL);
	expect(st == EINVAL || st == ENOENT, "CREATE_AH on a bogus PD: status %u", st);
	ah_to_gid0(&c, pd);
	expect_status(create_ah(ctx, &c, 0, NULL), EINVAL, "CREATE_AH without a response buffer");
	/* An AH left alive here goes with the context's close. */
	expect_status(create_ah(ctx, &c, sizeof(out), NULL), 0, "CREATE_AH left to the context close");
}
