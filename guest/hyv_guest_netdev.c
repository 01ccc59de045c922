// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest's net device of a hyv device (module parameter netdev=1;
 * docs/network.md, "The guest's net device").
 *
 * ib_core types GIDs RoCE v2 only on a RoCE port, and builds a RoCE port's
 * GID table only from the addresses of its net device. libibverbs needs that
 * type to answer a UD sender (ibv_create_ah_from_wc), and the guest's kernel
 * resolves a RoCE address vector through its own routes. So, as an SR-IOV
 * function brings its net device, the hyv device brings one: it carries the
 * identity's MAC, the guest gives it the identity's addresses, and ib_core
 * turns them into the port's GIDs, each declared to the host (add_gid), which
 * refuses any that is not the VM's.
 *
 * It carries no IP packets: RDMA traffic leaves from the host device, and
 * what the guest's IP stack sends here is dropped and counted. It does not
 * resolve neighbours (IFF_NOARP): the host resolves the destination MAC of
 * every address vector itself.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <net/ipv6.h>

#include "hyv_guest.h"

static bool netdev;
module_param(netdev, bool, 0644);
MODULE_PARM_DESC(netdev,
		 "give each device probed from now on a net device for the VM's RoCE addresses, and a RoCE v2 GID table built from them (default: off, GIDs mirrored from the host)");

static netdev_tx_t hyv_netdev_xmit(struct sk_buff *skb, struct net_device *ndev)
{
	dev_core_stats_tx_dropped_inc(ndev);
	dev_kfree_skb_any(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops hyv_netdev_ops = {
	.ndo_start_xmit = hyv_netdev_xmit,
	.ndo_validate_addr = eth_validate_addr,
};

static void hyv_netdev_setup(struct net_device *ndev)
{
	ether_setup(ndev);
	ndev->netdev_ops = &hyv_netdev_ops;
	ndev->flags |= IFF_NOARP;
	ndev->priv_flags |= IFF_NO_QUEUE;
	/* The host checks the addresses against the VM's identity, in the host's namespace. */
	ndev->features |= NETIF_F_NETNS_LOCAL;
	ndev->max_mtu = ETH_MAX_MTU;
}

/*
 * Before hyv_ib_register: the port's protocol (hyv_port_immutable) follows
 * whether there is a net device. Without the parameter, on a device of more
 * than one port, or against a host that cannot describe the identity, there
 * is none and the port keeps the host's GIDs (docs/control-path.md, "GIDs").
 */
int hyv_netdev_add(struct hyv_dev *hdev)
{
	struct hyv_identity id;
	struct net_device *ndev;
	u32 mtu;
	int ret;

	if (!READ_ONCE(netdev))
		return 0;
	if (hdev->ports != HYV_SET_GID_PORT) {
		dev_warn(&hdev->vdev->dev, "netdev=1 serves single-port devices; %u ports: GIDs from the host\n",
			 hdev->ports);
		return 0;
	}
	ret = hyv_cmd_exec_exact(hdev, HYV_OP_QUERY_IDENTITY, 0, NULL, 0, &id, sizeof(id));
	if (ret) {
		dev_warn(&hdev->vdev->dev, "the host does not describe the VM's identity (%d; hyv_mdev older than virtio_hyv?): no net device, GIDs from the host\n",
			 ret);
		return 0;
	}
	ndev = alloc_netdev(0, "hyv%d", NET_NAME_ENUM, hyv_netdev_setup);
	if (!ndev)
		return -ENOMEM;
	SET_NETDEV_DEV(ndev, &hdev->vdev->dev);
	/* The identity's MAC makes the port's default GID the identity's link-local one. */
	if (is_valid_ether_addr(id.mac))
		eth_hw_addr_set(ndev, id.mac);
	else
		eth_hw_addr_random(ndev);
	mtu = le32_to_cpu(id.mtu);
	if (mtu >= ETH_MIN_MTU && mtu <= ETH_MAX_MTU)
		ndev->mtu = mtu;
	ret = register_netdev(ndev);
	if (ret)
		goto err_free;
	hdev->netdev = ndev;
	return 0;

err_free:
	free_netdev(ndev);
	return ret;
}

/* After hyv_ib_unregister, which let go of the device. */
void hyv_netdev_remove(struct hyv_dev *hdev)
{
	if (!hdev->netdev)
		return;
	unregister_netdev(hdev->netdev);
	free_netdev(hdev->netdev);
	hdev->netdev = NULL;
}

/* ib_core's GIDs of the port, declared to the host, which checks them against the identity. */
static int hyv_set_gid(const struct ib_gid_attr *attr, bool valid)
{
	struct hyv_set_gid s = {
		.port = cpu_to_le32(attr->port_num),
		.index = cpu_to_le32(attr->index),
		.gid_type = cpu_to_le32(attr->gid_type),
		.flags = cpu_to_le32(valid ? HYV_SET_GID_VALID : 0),
	};

	memcpy(s.raw, attr->gid.raw, sizeof(s.raw));
	return hyv_cmd_exec_exact(to_hdev(attr->device), HYV_OP_SET_GID, 0, &s, sizeof(s), NULL, 0);
}

int hyv_add_gid(const struct ib_gid_attr *attr, void **context)
{
	const char *ndev = to_hdev(attr->device)->netdev->name;
	int ret = hyv_set_gid(attr, true);

	if (ret != -EADDRNOTAVAIL)
		return ret;
	if (ipv6_addr_v4mapped((const struct in6_addr *)attr->gid.raw))
		ibdev_warn(attr->device, "%pI4 is not one of the VM's RoCE addresses (its network identity on the host): not a GID; give %s only the identity's addresses\n",
			   &attr->gid.raw[12], ndev);
	else
		ibdev_warn(attr->device, "%pI6c is not one of the VM's RoCE addresses (its network identity on the host): not a GID; give %s only the identity's addresses\n",
			   attr->gid.raw, ndev);
	return ret;
}

int hyv_del_gid(const struct ib_gid_attr *attr, void **context)
{
	int ret = hyv_set_gid(attr, false);

	/* A gone host forgot the table with everything else. */
	return ret == -ENODEV ? 0 : ret;
}
