// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest's ib_device. It carries the host device's uverbs identity
 * (driver id, ABI version) so the stock provider of the host device (librxe
 * for rxe) binds to it unchanged, and forwards each verb to the host as the
 * uverbs write command the host's own uverbs layer would run, with the
 * provider's udata passed through untouched.
 *
 * Port model (docs/control-path.md, "GIDs"): the host port is RoCE, and
 * ib_core builds a RoCE GID table only from net devices. With the guest's net
 * device (hyv_guest_netdev.c) the port is RoCE v2, its GIDs the addresses the
 * guest gives that device, each declared to the host (add_gid). Without one
 * the port is registered as an IB-protocol port, whose GID table ib_core
 * fills through query_gid, which mirrors the instance's host GIDs index for
 * index. Either way get_link_layer reports the host's real link layer
 * (Ethernet), so rdma-core and apps see a RoCE port with LID 0 and GIDs.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/pci.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/uverbs_ioctl.h>

#include "hyv_guest.h"

u32 hyv_udata_ctx(struct hyv_dev *hdev, struct ib_udata *udata)
{
	struct hyv_ucontext *uctx;

	if (!udata)
		return hdev->dev_ctx;
	uctx = rdma_udata_to_drv_context(udata, struct hyv_ucontext, ibuc);
	return uctx ? uctx->host_ctx : hdev->dev_ctx;
}

static int hyv_query_device(struct ib_device *ibdev, struct ib_device_attr *attr,
			    struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibdev);
	struct ib_uverbs_query_device cmd = {};
	struct ib_uverbs_query_device_resp r;
	int ret;

	/* rxe takes no provider data here; neither do we. */
	if (udata && (udata->inlen || udata->outlen))
		return -EINVAL;
	ret = hyv_uverbs_cmd(hdev, hdev->dev_ctx, IB_USER_VERBS_CMD_QUERY_DEVICE, &cmd,
			     sizeof(cmd), NULL, &r, sizeof(r));
	if (ret)
		return ret;

	memset(attr, 0, sizeof(*attr));
	attr->fw_ver = r.fw_ver;
	attr->sys_image_guid = r.sys_image_guid;
	attr->max_mr_size = r.max_mr_size;
	attr->page_size_cap = r.page_size_cap;
	attr->vendor_id = r.vendor_id;
	attr->vendor_part_id = r.vendor_part_id;
	attr->hw_ver = r.hw_ver;
	attr->max_qp = r.max_qp;
	attr->max_qp_wr = r.max_qp_wr;
	/* SRQ resizing is refused (hyv_guest_srq.c): not advertised. */
	attr->device_cap_flags = r.device_cap_flags & ~IB_DEVICE_SRQ_RESIZE;
	attr->max_send_sge = r.max_sge;
	attr->max_recv_sge = r.max_sge;
	attr->max_sge_rd = r.max_sge_rd;
	attr->max_cq = r.max_cq;
	attr->max_cqe = r.max_cqe;
	attr->max_mr = r.max_mr;
	attr->max_pd = r.max_pd;
	attr->max_qp_rd_atom = r.max_qp_rd_atom;
	attr->max_ee_rd_atom = r.max_ee_rd_atom;
	attr->max_res_rd_atom = r.max_res_rd_atom;
	attr->max_qp_init_rd_atom = r.max_qp_init_rd_atom;
	attr->max_ee_init_rd_atom = r.max_ee_init_rd_atom;
	attr->atomic_cap = r.atomic_cap;
	attr->max_ee = r.max_ee;
	attr->max_rdd = r.max_rdd;
	attr->max_mw = r.max_mw;
	attr->max_raw_ipv6_qp = r.max_raw_ipv6_qp;
	attr->max_raw_ethy_qp = r.max_raw_ethy_qp;
	attr->max_mcast_grp = r.max_mcast_grp;
	attr->max_mcast_qp_attach = r.max_mcast_qp_attach;
	attr->max_total_mcast_qp_attach = r.max_total_mcast_qp_attach;
	attr->max_ah = r.max_ah;
	attr->max_srq = r.max_srq;
	attr->max_srq_wr = r.max_srq_wr;
	attr->max_srq_sge = r.max_srq_sge;
	attr->max_pkeys = r.max_pkeys;
	attr->local_ca_ack_delay = r.local_ca_ack_delay;
	return 0;
}

static int hyv_query_port(struct ib_device *ibdev, u32 port, struct ib_port_attr *attr)
{
	struct hyv_dev *hdev = to_hdev(ibdev);
	struct ib_uverbs_query_port cmd = { .port_num = port };
	struct ib_uverbs_query_port_resp r;
	int ret;

	ret = hyv_uverbs_cmd(hdev, hdev->dev_ctx, IB_USER_VERBS_CMD_QUERY_PORT, &cmd, sizeof(cmd),
			     NULL, &r, sizeof(r));
	if (ret)
		return ret;

	/* ib_core zeroed *attr. */
	attr->ip_gids = !!(r.port_cap_flags & IB_UVERBS_PCF_IP_BASED_GIDS);
	attr->port_cap_flags = r.port_cap_flags & ~IB_UVERBS_PCF_IP_BASED_GIDS;
	attr->max_msg_sz = r.max_msg_sz;
	attr->bad_pkey_cntr = r.bad_pkey_cntr;
	attr->qkey_viol_cntr = r.qkey_viol_cntr;
	attr->gid_tbl_len = min_t(u32, r.gid_tbl_len, HYV_GID_TABLE_LEN);
	attr->pkey_tbl_len = r.pkey_tbl_len;
	attr->lid = r.lid;
	attr->sm_lid = r.sm_lid;
	attr->state = r.state;
	attr->max_mtu = r.max_mtu;
	attr->active_mtu = r.active_mtu;
	attr->lmc = r.lmc;
	attr->max_vl_num = r.max_vl_num;
	attr->sm_sl = r.sm_sl;
	attr->subnet_timeout = r.subnet_timeout;
	attr->init_type_reply = r.init_type_reply;
	attr->active_width = r.active_width;
	attr->active_speed = r.active_speed;
	attr->phys_state = r.phys_state;
	return 0;
}

static int hyv_port_immutable(struct ib_device *ibdev, u32 port, struct ib_port_immutable *imm)
{
	struct ib_port_attr attr;
	int ret;

	ret = ib_query_port(ibdev, port, &attr);
	if (ret)
		return ret;
	imm->pkey_tbl_len = attr.pkey_tbl_len;
	imm->gid_tbl_len = attr.gid_tbl_len;
	/* See the top: RoCE v2 over the guest's net device, or IB with the host's GIDs. */
	imm->core_cap_flags = to_hdev(ibdev)->netdev ?
			      RDMA_CORE_CAP_PROT_ROCE_UDP_ENCAP | RDMA_CORE_CAP_ETH_AH :
			      RDMA_CORE_CAP_PROT_IB;
	imm->max_mad_size = 0;
	return 0;
}

static enum rdma_link_layer hyv_link_layer(struct ib_device *ibdev, u32 port)
{
	/* Every host device hyv serves today (rxe) is RoCE. */
	return IB_LINK_LAYER_ETHERNET;
}

static int hyv_query_gid(struct ib_device *ibdev, u32 port, int index, union ib_gid *gid)
{
	struct hyv_query_gid q = { .port = cpu_to_le32(port), .index = cpu_to_le32(index) };
	struct hyv_gid_entry e;
	int ret;

	ret = hyv_cmd_exec_exact(to_hdev(ibdev), HYV_OP_QUERY_GID, 0, &q, sizeof(q), &e, sizeof(e));
	if (ret)
		return ret;
	memcpy(gid->raw, e.raw, sizeof(gid->raw));
	return 0;
}

static int hyv_query_pkey(struct ib_device *ibdev, u32 port, u16 index, u16 *pkey)
{
	struct hyv_query_pkey q = { .port = cpu_to_le32(port), .index = cpu_to_le32(index) };
	struct hyv_pkey_entry e;
	int ret;

	ret = hyv_cmd_exec_exact(to_hdev(ibdev), HYV_OP_QUERY_PKEY, 0, &q, sizeof(q), &e,
				 sizeof(e));
	if (ret)
		return ret;
	*pkey = le16_to_cpu(e.pkey);
	return 0;
}

static int hyv_alloc_ucontext(struct ib_ucontext *ibuc, struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibuc->device);
	struct hyv_ucontext *uctx = to_huctx(ibuc);
	struct ib_uverbs_get_context cmd = {};
	struct ib_uverbs_get_context_resp r;
	int ret;

	ret = hyv_ctx_open(hdev, &uctx->host_ctx);
	if (ret)
		return ret;
	ret = hyv_uverbs_cmd(hdev, uctx->host_ctx, IB_USER_VERBS_CMD_GET_CONTEXT, &cmd,
			     sizeof(cmd), udata, &r, sizeof(r));
	if (ret)
		goto err_close;
	return 0;

err_close:
	hyv_ctx_close(hdev, uctx->host_ctx);
	return ret;
}

/* ib_core destroyed the context's objects already; closing the host file ends the rest. */
static void hyv_dealloc_ucontext(struct ib_ucontext *ibuc)
{
	struct hyv_ucontext *uctx = to_huctx(ibuc);

	hyv_ctx_close(to_hdev(ibuc->device), uctx->host_ctx);
}

/*
 * Device unplug while a process holds the context: ib_core zaps the
 * process's ring mappings itself (they were made with rdma_user_mmap_io()).
 */
static void hyv_disassociate_ucontext(struct ib_ucontext *ibuc)
{
}

static int hyv_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibpd->device);
	struct hyv_pd *pd = to_hpd(ibpd);
	struct ib_uverbs_alloc_pd cmd = {};
	struct ib_uverbs_alloc_pd_resp r;
	int ret;

	pd->host_ctx = hyv_udata_ctx(hdev, udata);
	ret = hyv_uverbs_cmd(hdev, pd->host_ctx, IB_USER_VERBS_CMD_ALLOC_PD, &cmd, sizeof(cmd),
			     udata, &r, sizeof(r));
	if (ret)
		return ret;
	pd->host_handle = r.pd_handle;
	return 0;
}

static int hyv_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibpd->device);
	struct hyv_pd *pd = to_hpd(ibpd);
	struct ib_uverbs_dealloc_pd cmd = { .pd_handle = pd->host_handle };
	int ret;

	ret = hyv_uverbs_cmd(hdev, pd->host_ctx, IB_USER_VERBS_CMD_DEALLOC_PD, &cmd, sizeof(cmd),
			     NULL, NULL, 0);
	/* A gone host already destroyed it with the context. */
	return ret == -ENODEV ? 0 : ret;
}

/*
 * Verbs that stay unsupported: the data path of user QPs and CQs is the
 * mapped rings (librxe polls CQs and posts receives itself); kernel users
 * (which would poll through the driver) are not served.
 */
static int hyv_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc)
{
	ibdev_dbg(ibcq->device, "poll_cq refused: a kernel consumer\n");
	return -EOPNOTSUPP;
}

static int hyv_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
			 const struct ib_recv_wr **bad_wr)
{
	ibdev_dbg(ibqp->device, "post_recv refused: a kernel consumer\n");
	*bad_wr = wr;
	return -EOPNOTSUPP;
}

static struct ib_mr *hyv_get_dma_mr(struct ib_pd *ibpd, int access)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static const struct ib_device_ops hyv_dev_ops = {
	.owner = THIS_MODULE,
	/* driver_id and uverbs_abi_ver are the host's, set per device. */

	.add_gid = hyv_add_gid,
	.alloc_pd = hyv_alloc_pd,
	.alloc_ucontext = hyv_alloc_ucontext,
	.create_cq = hyv_create_cq,
	.create_qp = hyv_create_qp,
	.create_srq = hyv_create_srq,
	.create_user_ah = hyv_create_user_ah,
	.dealloc_pd = hyv_dealloc_pd,
	.dealloc_ucontext = hyv_dealloc_ucontext,
	.del_gid = hyv_del_gid,
	.dereg_mr = hyv_dereg_mr,
	.destroy_ah = hyv_destroy_ah,
	.destroy_cq = hyv_destroy_cq,
	.destroy_qp = hyv_destroy_qp,
	.destroy_srq = hyv_destroy_srq,
	.disassociate_ucontext = hyv_disassociate_ucontext,
	.get_dma_mr = hyv_get_dma_mr,
	.get_link_layer = hyv_link_layer,
	.get_port_immutable = hyv_port_immutable,
	.mmap = hyv_mmap,
	.mmap_free = hyv_mmap_free,
	.modify_qp = hyv_modify_qp,
	.modify_srq = hyv_modify_srq,
	.poll_cq = hyv_poll_cq,
	.post_recv = hyv_post_recv,
	.post_send = hyv_post_send,
	.query_device = hyv_query_device,
	.query_gid = hyv_query_gid,
	.query_pkey = hyv_query_pkey,
	.query_port = hyv_query_port,
	.query_qp = hyv_query_qp,
	.query_srq = hyv_query_srq,
	.reg_user_mr = hyv_reg_user_mr,
	.req_notify_cq = hyv_req_notify_cq,

	INIT_RDMA_OBJ_SIZE(ib_ah, hyv_ah, ibah),
	INIT_RDMA_OBJ_SIZE(ib_cq, hyv_cq, ibcq),
	INIT_RDMA_OBJ_SIZE(ib_pd, hyv_pd, ibpd),
	INIT_RDMA_OBJ_SIZE(ib_qp, hyv_qp, ibqp),
	INIT_RDMA_OBJ_SIZE(ib_srq, hyv_srq, ibsrq),
	INIT_RDMA_OBJ_SIZE(ib_ucontext, hyv_ucontext, ibuc),
};

int hyv_ib_register(struct hyv_dev *hdev)
{
	struct ib_device *ibdev = &hdev->ibdev;
	int ret;

	ib_set_device_ops(ibdev, &hyv_dev_ops);
	/* The host's uverbs identity, so the host device's provider binds. */
	ibdev->ops.driver_id = hdev->host_driver_id;
	ibdev->ops.uverbs_abi_ver = hdev->host_abi;
	ibdev->node_type = RDMA_NODE_IB_CA;
	ibdev->node_guid = cpu_to_be64(hdev->node_guid);
	ibdev->phys_port_cnt = hdev->ports;
	ibdev->num_comp_vectors = 1;
	/*
	 * The write commands ib_core leaves off by default, as rxe turns them on:
	 * its userspace kicks its send queue with a POST_SEND (no WRs) and arms
	 * CQs with REQ_NOTIFY_CQ.
	 */
	ibdev->uverbs_cmd_mask |= BIT_ULL(IB_USER_VERBS_CMD_POST_SEND) |
				  BIT_ULL(IB_USER_VERBS_CMD_REQ_NOTIFY_CQ);
	ibdev->dev.parent = &hdev->vdev->dev;
	strscpy(ibdev->node_desc, "hyv", sizeof(ibdev->node_desc));
	if (hdev->netdev) {
		ret = ib_device_set_netdev(ibdev, hdev->netdev, HYV_SET_GID_PORT);
		if (ret)
			return ret;
	}

	ret = ib_register_device(ibdev, "hyv%d", hdev->dma_dev);
	if (ret)
		goto err_netdev;
	dev_info(&hdev->vdev->dev, "registered %s (driver_id %u, uverbs abi %u%s%s)\n",
		 dev_name(&ibdev->dev), hdev->host_driver_id, hdev->host_abi,
		 hdev->netdev ? ", RoCE v2 over " : "", hdev->netdev ? hdev->netdev->name : "");
	return 0;

err_netdev:
	/* The net device's unregistration would wait for this reference forever. */
	if (hdev->netdev)
		ib_device_set_netdev(ibdev, NULL, HYV_SET_GID_PORT);
	return ret;
}

void hyv_ib_unregister(struct hyv_dev *hdev)
{
	ib_unregister_device(&hdev->ibdev);
}
