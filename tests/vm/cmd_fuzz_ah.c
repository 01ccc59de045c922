// SPDX-License-Identifier: GPL-2.0-only
/*
 * cmd_fuzz, vfio mode: address handles. CREATE_AH with the fields a hostile
 * guest controls (GID index, port, GRH, PD, response size), DESTROY_AH of
 * bogus and destroyed handles. Then a GID table of the guest's own
 * (SET_GID): malformed and foreign entries refused, and source GID indices
 * that follow it.
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

static uint32_t set_gid(uint32_t port, uint32_t index, const uint8_t raw[16], uint32_t type,
			uint32_t flags)
{
	struct hyv_set_gid s = { .port = htole32(port), .index = htole32(index),
				 .gid_type = htole32(type), .flags = htole32(flags) };

	memcpy(s.raw, raw, sizeof(s.raw));
	return run(HYV_OP_SET_GID, 0, &s, sizeof(s), 0);
}

/*
 * The guest declares a table of its own, as virtio_hyv does over its net
 * device: from then on a source GID index is an index of that table, mapped
 * by value to the instance's GID. The device's reset (mr_checks) forgets it.
 */
static void gid_table_checks(uint32_t ctx, uint32_t pd)
{
	struct hyv_query_gid qg = { .port = htole32(1), .index = htole32(0) };
	struct hyv_gid_entry gid0, *e = (struct hyv_gid_entry *)(page + resp_off(sizeof(qg)));
	struct hyv_identity *id = (struct hyv_identity *)(page + resp_off(0));
	static const uint8_t foreign[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 99 };
	static const uint8_t no_mac[6], no_gid[16];
	struct ib_uverbs_create_ah c;
	struct create_ah_out out;
	uint32_t declared = 5, st;

	expect_status(run(HYV_OP_QUERY_IDENTITY, 0, NULL, 0, sizeof(*id)), 0, "QUERY_IDENTITY");
	expect(memcmp(id->mac, no_mac, sizeof(no_mac)) && le32toh(id->mtu) >= 576,
	       "QUERY_IDENTITY: no MAC or MTU %u", le32toh(id->mtu));
	printf("cmd_fuzz: identity link %02x:%02x:%02x:%02x:%02x:%02x mtu %u\n", id->mac[0], id->mac[1],
	       id->mac[2], id->mac[3], id->mac[4], id->mac[5], le32toh(id->mtu));
	expect_status(run(HYV_OP_QUERY_IDENTITY, 0, NULL, 0, 4), EINVAL,
		      "QUERY_IDENTITY with a short response buffer");
	expect_status(run(HYV_OP_QUERY_IDENTITY, 0, &qg, sizeof(qg), sizeof(*id)), EINVAL,
		      "QUERY_IDENTITY with a payload");

	expect_status(run(HYV_OP_QUERY_GID, 0, &qg, sizeof(qg), sizeof(*e)), 0, "QUERY_GID 0");
	gid0 = *e;
	expect_status(run(HYV_OP_SET_GID, 0, &gid0, sizeof(gid0), 0), EINVAL, "SET_GID of the wrong size");
	expect_status(set_gid(2, declared, gid0.raw, le32toh(gid0.gid_type), HYV_SET_GID_VALID), EINVAL,
		      "SET_GID on port 2");
	expect_status(set_gid(1, HYV_GID_TABLE_LEN, gid0.raw, le32toh(gid0.gid_type), HYV_SET_GID_VALID),
		      EINVAL, "SET_GID past the table");
	expect_status(set_gid(1, declared, gid0.raw, le32toh(gid0.gid_type), 2), EINVAL,
		      "SET_GID with unknown flags");
	expect_status(set_gid(1, declared, gid0.raw, 7, HYV_SET_GID_VALID), EINVAL, "SET_GID of type 7");
	expect_status(set_gid(1, declared, no_gid, 0, HYV_SET_GID_VALID), EINVAL, "SET_GID of the zero GID");
	expect_status(set_gid(1, declared, foreign, le32toh(gid0.gid_type), HYV_SET_GID_VALID),
		      EADDRNOTAVAIL, "SET_GID of an address not the instance's");

	/* The instance's GID 0 at the guest's index 5: index 5 works, index 0 (empty now) does not. */
	expect_status(set_gid(1, declared, gid0.raw, le32toh(gid0.gid_type), HYV_SET_GID_VALID), 0,
		      "SET_GID of the instance's GID 0 at index 5");
	ah_to_gid0(&c, pd);
	c.attr.grh.sgid_index = declared;
	st = create_ah(ctx, &c, sizeof(out), &out);
	expect_status(st, 0, "CREATE_AH from the guest's index 5");
	if (!st)
		expect_status(destroy_ah(ctx, out.ah_handle), 0, "DESTROY_AH of the guest table's AH");
	c.attr.grh.sgid_index = 0;
	expect_status(create_ah(ctx, &c, sizeof(out), NULL), EINVAL,
		      "CREATE_AH from an index the guest's table leaves empty");
	expect_status(run(HYV_OP_QUERY_GID, 0, &qg, sizeof(qg), sizeof(*e)), 0,
		      "QUERY_GID 0 with a guest table");
	expect(!memcmp(e->raw, gid0.raw, sizeof(gid0.raw)), "QUERY_GID 0 changed with a guest table");
	expect_status(set_gid(1, declared, gid0.raw, 0, 0), 0, "SET_GID emptying index 5");
	c.attr.grh.sgid_index = declared;
	expect_status(create_ah(ctx, &c, sizeof(out), NULL), EINVAL, "CREATE_AH from an emptied index");
	printf("cmd_fuzz: guest GID table: foreign GID refused, index %u followed it\n", declared);
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
	gid_table_checks(ctx, pd);
}
