// SPDX-License-Identifier: GPL-2.0-only
/*
 * Address handles for UD: host objects, like every other verbs object. The
 * guest process's provider (librxe) puts the handle's number (rxe's ah_num,
 * returned in the provider's response) into each UD work request it writes
 * to the mapped send ring, and the host device sends with the host AH's
 * address vector, resolved by the host kernel. No guest address or fd is
 * involved.
 *
 * Only user AHs: kernel consumers never post (hyv_post_send).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <rdma/ib_user_verbs.h>
#include <rdma/uverbs_ioctl.h>

#include "hyv_guest.h"

/* The uverbs AH attributes, from the same address vector a QP's dest takes. */
static void hyv_ah_attr_to_uverbs(const struct rdma_ah_attr *attr, struct ib_uverbs_ah_attr *u)
{
	struct ib_uverbs_qp_dest d = {};

	hyv_ah_to_dest(attr, &d);
	memcpy(u->grh.dgid, d.dgid, sizeof(u->grh.dgid));
	u->grh.flow_label = d.flow_label;
	u->grh.sgid_index = d.sgid_index;
	u->grh.hop_limit = d.hop_limit;
	u->grh.traffic_class = d.traffic_class;
	u->dlid = d.dlid;
	u->sl = d.sl;
	u->src_path_bits = d.src_path_bits;
	u->static_rate = d.static_rate;
	u->is_global = d.is_global;
	u->port_num = d.port_num;
}

int hyv_create_user_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init_attr,
		       struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibah->device);
	struct hyv_pd *pd = to_hpd(ibah->pd);
	struct hyv_ah *ah = to_hah(ibah);
	struct ib_uverbs_create_ah cmd = { .pd_handle = pd->host_handle };
	struct ib_uverbs_create_ah_resp r;
	int ret;

	if (!udata) {
		ibdev_dbg(ibah->device, "create_ah refused: a kernel consumer\n");
		return -EOPNOTSUPP;
	}
	ah->host_ctx = hyv_udata_ctx(hdev, udata);
	/* Host handles name objects of one host context only. */
	if (pd->host_ctx != ah->host_ctx) {
		ibdev_dbg(ibah->device, "create_ah refused: PD of another context\n");
		return -EINVAL;
	}
	hyv_ah_attr_to_uverbs(init_attr->ah_attr, &cmd.attr);
	ret = hyv_uverbs_cmd(hdev, ah->host_ctx, IB_USER_VERBS_CMD_CREATE_AH, &cmd, sizeof(cmd),
			     udata, &r, sizeof(r));
	if (ret)
		return ret;
	ah->host_handle = r.ah_handle;
	return 0;
}

int hyv_destroy_ah(struct ib_ah *ibah, u32 flags)
{
	struct hyv_ah *ah = to_hah(ibah);
	struct ib_uverbs_destroy_ah cmd = { .ah_handle = ah->host_handle };
	int ret;

	ret = hyv_uverbs_cmd(to_hdev(ibah->device), ah->host_ctx, IB_USER_VERBS_CMD_DESTROY_AH,
			     &cmd, sizeof(cmd), NULL, NULL, 0);
	/* A gone host took the AH with the context. */
	return ret == -ENODEV ? 0 : ret;
}
