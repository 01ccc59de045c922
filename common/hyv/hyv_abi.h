/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The virtio-hyv PCI function as seen by the guest: IDs, BAR layout and the
 * device-specific configuration structure. Shared by the host module
 * (hyv_mdev.ko), the guest driver (virtio_hyv.ko) and userspace tests, so it
 * uses only <linux/types.h>. docs/device.md explains every value.
 */
#ifndef HYV_ABI_H
#define HYV_ABI_H

#include <linux/types.h>

/* Bumped on any incompatible change of this file. */
#define HYV_ABI_VERSION 1

/*
 * Virtio device id: 63 is the last id a modern virtio-pci function can carry
 * (PCI device 0x1040 + 63 = 0x107f) and is far from the ids the virtio spec
 * has assigned (42 is reserved for a future standard virtio-rdma device, which
 * this is not).
 */
#define HYV_VIRTIO_ID 63
#define HYV_PCI_VENDOR_ID 0x1af4
#define HYV_PCI_DEVICE_ID (0x1040 + HYV_VIRTIO_ID)
#define HYV_PCI_SUBSYS_VENDOR_ID 0x1af4
#define HYV_PCI_SUBSYS_ID 0x1100
#define HYV_PCI_REVISION 1
/* Network controller / InfiniBand controller. */
#define HYV_PCI_CLASS_CODE 0x020700

/* BAR0: trapped, every access is an exit handled by hyv_mdev. */
#define HYV_BAR0_SIZE 0x8000u
#define HYV_BAR0_COMMON_OFFSET 0x0000u
#define HYV_BAR0_COMMON_SIZE 0x0040u
#define HYV_BAR0_ISR_OFFSET 0x1000u
#define HYV_BAR0_ISR_SIZE 0x0004u
#define HYV_BAR0_DEVICE_OFFSET 0x2000u
#define HYV_BAR0_DEVICE_SIZE 0x1000u
#define HYV_BAR0_NOTIFY_OFFSET 0x3000u
#define HYV_BAR0_NOTIFY_SIZE 0x1000u
#define HYV_NOTIFY_OFF_MULTIPLIER 4u
#define HYV_BAR0_MSIX_TABLE_OFFSET 0x4000u
#define HYV_BAR0_MSIX_PBA_OFFSET 0x5000u
/* Control-path command registers (HYV_CTRL_*, below). */
#define HYV_BAR0_CONTROL_OFFSET 0x6000u
#define HYV_BAR0_CONTROL_SIZE 0x2000u

/* BAR2: 64-bit prefetchable window, mmap-able: host queue pages (rings), placed
 * per object; a finite per-instance resource (ENOSPC when full). */
#define HYV_BAR2_SIZE 0x100000u

#define HYV_MSIX_VECTORS 4
/* Vector the host uses for the virtio configuration-change interrupt is the
 * one the guest programs into msix_config; 0 is what Linux picks. */

/* Virtqueues: none yet; the control path uses BAR0 command registers. */
#define HYV_NUM_QUEUES 0

/* hyv_device_config.state */
#define HYV_DEVICE_STATE_LIVE 1
/* The host RDMA device went away; the function will never work again. */
#define HYV_DEVICE_STATE_DEAD 2

#define HYV_IBDEV_NAME_MAX 64

/*
 * Device-specific configuration (virtio device cfg, BAR0 + 0x2000), little
 * endian. node_guid is the host order value, so "%04x:%04x:%04x:%04x" of its
 * four 16-bit groups from the top prints it like ibv_devinfo.
 */
struct hyv_device_config {
	__le32 abi_version;
	__le32 state;
	__le64 node_guid;
	__le32 driver_id;	/* enum rdma_driver_id of the host device */
	__le32 uverbs_abi_ver;	/* host provider's uverbs ABI version */
	__le32 phys_port_cnt;
	__le32 reserved;
	__u8 host_ibdev[HYV_IBDEV_NAME_MAX];	/* NUL-terminated, diagnostics only */
};

/*
 * Command channel (docs/control-path.md). Registers at HYV_BAR0_CONTROL_OFFSET
 * + HYV_CTRL_*, 32-bit accesses only. The guest lays a command out in its own
 * memory (struct hyv_cmd_hdr, the payload, the response buffer), writes the
 * command's DMA address and length, then writes HYV_CTRL_DOORBELL_RUN to the
 * doorbell. The write traps; the host executes the command before the write
 * completes, so when the guest reads HYV_CTRL_STATUS the response is in memory.
 */
#define HYV_CTRL_CMD_ADDR_LO 0x00u	/* RW: command address, bits 0..31 */
#define HYV_CTRL_CMD_ADDR_HI 0x04u	/* RW: command address, bits 32..63 */
#define HYV_CTRL_CMD_LEN 0x08u		/* RW: command length in bytes */
#define HYV_CTRL_DOORBELL 0x0cu		/* W: HYV_CTRL_DOORBELL_RUN executes the command */
#define HYV_CTRL_STATUS 0x10u		/* R: 0 or positive errno of the last doorbell */
#define HYV_CTRL_COMMANDS 0x14u		/* R: doorbells since the device was opened (wraps) */
#define HYV_CTRL_FAILED 0x18u		/* R: of those, how many failed (wraps) */
/*
 * W: the send kick of a user QP in one trapped write (rxe's provider writes
 * its WQEs to the mapped SQ ring, then kicks): context handle << 24 | the
 * QP's host uverbs handle. The host runs a POST_SEND without work requests on
 * that QP. Nothing to read back: STATUS keeps the last command's; a failed
 * kick counts in FAILED, and the QP's errors surface as on bare metal, as
 * completions with error. Handles above HYV_KICK_HANDLE_MASK kick through a
 * POST_SEND command.
 */
#define HYV_CTRL_SEND_KICK 0x1cu
#define HYV_CTRL_REGS_END 0x20u
#define HYV_KICK_CTX_SHIFT 24
#define HYV_KICK_HANDLE_MASK 0xffffffu
/* Any other doorbell value is a bad access: a stray write must not run a command. */
#define HYV_CTRL_DOORBELL_RUN 1u

/*
 * A command is one physically contiguous buffer of at most HYV_CMD_MAX_LEN
 * bytes: the header, in_len payload bytes, padding to 8 bytes, out_len
 * response bytes. One page: every uverbs command rxe needs is far smaller, and
 * the host copies the payload into one scratch page in QEMU's address space.
 */
#define HYV_CMD_MAX_LEN 4096u
#define HYV_CMD_ALIGN 8u

/* hyv_cmd_hdr.op */
enum hyv_cmd_op {
	/* Open a host context: a host uverbs file private to this guest context.
	 * value <- context handle. No payload, no response. */
	HYV_OP_CTX_OPEN = 1,
	/* Close context ctx: the host destroys every object made through it. */
	HYV_OP_CTX_CLOSE = 2,
	/* Run payload (uverbs write ABI: struct ib_uverbs_cmd_hdr, the command,
	 * provider udata) on context ctx. The host replaces the command's response
	 * pointer with its own buffer and returns the response in the response
	 * buffer. Only allow-listed commands run (docs/control-path.md). */
	HYV_OP_UVERBS_WRITE = 3,
	/* struct hyv_query_gid -> struct hyv_gid_entry. ctx unused (0). */
	HYV_OP_QUERY_GID = 4,
	/* struct hyv_query_pkey -> struct hyv_pkey_entry. ctx unused (0). */
	HYV_OP_QUERY_PKEY = 5,
	/* struct hyv_window_release, no response. The BAR2 range at offset held
	 * a ring of an object of context ctx that the guest destroyed, and no
	 * guest process maps it any more: the host may place another ring there.
	 * Until then the range stays reserved (and reads as zeroes). */
	HYV_OP_WINDOW_RELEASE = 6,
	/* struct hyv_reg_mr, then nr_lists __le64 list addresses ->
	 * struct hyv_reg_mr_resp. Registers the guest pages the lists name as
	 * one memory region of context ctx, in place: the host device reads and
	 * writes those very pages (zero copy). Released with the uverbs
	 * DEREG_MR command or with the context. */
	HYV_OP_REG_MR = 7,
	/* struct hyv_event_ring, no response; ctx unused (0). Where the host
	 * writes events (struct hyv_event) for the guest: after writing a burst
	 * it raises the configuration interrupt. Replaces an earlier ring; a
	 * device reset forgets it (the host then writes nothing). */
	HYV_OP_EVENT_RING = 8,
	/* Open a host rdma_cm context: the host's rdma_cm file, opened for
	 * QEMU, private to one guest rdma_cm file (docs/rdma-cm.md). value <-
	 * context handle, closed with HYV_OP_CTX_CLOSE. No payload, no
	 * response. Counts against HYV_MAX_CONTEXTS. */
	HYV_OP_CM_OPEN = 9,
	/* Run payload (rdma_ucm write ABI: struct rdma_ucm_cmd_hdr, then the
	 * command) on rdma_cm context ctx. As for HYV_OP_UVERBS_WRITE the host
	 * replaces the response pointer and returns the response (at most
	 * hdr.out bytes) in the response buffer; it checks every address
	 * against the instance's network identity. Only allow-listed commands
	 * run. GET_EVENT never waits: with no event queued it succeeds with an
	 * empty response (resp_len 0), and HYV_EVENT_CM announces the next one. */
	HYV_OP_CM_WRITE = 10,
	/* struct hyv_set_gid, no response; ctx unused (0). The guest keeps a GID
	 * table of its own (a RoCE port over a guest net device, docs/network.md)
	 * and puts a GID at one of its indices, or empties one. From the first
	 * SET_GID until the device's reset, every source GID index the guest
	 * names is an index of that table: the host maps it by value to the host
	 * GID, which must be one of the instance's (else EADDRNOTAVAIL, counted).
	 * HYV_OP_QUERY_GID keeps reading the instance's own GIDs. */
	HYV_OP_SET_GID = 11,
	/* No payload -> struct hyv_identity; ctx unused (0). The link of the
	 * instance's network identity, for the guest's net device. */
	HYV_OP_QUERY_IDENTITY = 12,
};

struct hyv_cmd_hdr {
	__le32 op;		/* enum hyv_cmd_op */
	__le32 ctx;		/* context handle (HYV_OP_CTX_OPEN's value) */
	__le32 in_len;		/* payload bytes after this header */
	__le32 out_len;		/* response buffer bytes, at ALIGN(in_len, 8) after the payload */
	__le32 status;		/* host: 0 or positive errno */
	__le32 resp_len;	/* host: response bytes written */
	__le64 value;		/* host: op result (HYV_OP_CTX_OPEN: the context handle) */
};

/* Host contexts per instance: a quota on host uverbs files a VM can hold open.
 * A guest uses one for device queries plus one per RDMA process. */
#define HYV_MAX_CONTEXTS 64u

/*
 * GID table entries a guest sees: the GIDs of its network identity (the host
 * GIDs of its own net device, renumbered from 0), or, for an unisolated
 * instance, the host's first entries index for index. The host translates
 * every source GID index the guest names and refuses one outside that view.
 */
#define HYV_GID_TABLE_LEN 16u

struct hyv_query_gid {
	__le32 port;
	__le32 index;
};

/* An empty host GID table entry reads as the zero GID with status 0. */
struct hyv_gid_entry {
	__u8 raw[16];
	__le32 gid_type;	/* host enum ib_gid_type */
	__le32 reserved;
};

/* The only port a guest GID table (HYV_OP_SET_GID) may describe. */
#define HYV_SET_GID_PORT 1u
/* hyv_set_gid.flags: the entry holds raw; without it the entry is emptied. */
#define HYV_SET_GID_VALID 1u

struct hyv_set_gid {
	__le32 port;
	__le32 index;		/* < HYV_GID_TABLE_LEN */
	__u8 raw[16];
	__le32 gid_type;	/* enum ib_gid_type */
	__le32 flags;
};

/* The identity's link: its net device's MAC and MTU; all zero with none. */
struct hyv_identity {
	__u8 mac[6];
	__le16 reserved;
	__le32 mtu;
	__le32 reserved2;
};

struct hyv_query_pkey {
	__le32 port;
	__le32 index;
};

struct hyv_pkey_entry {
	__le16 pkey;
	__le16 reserved[3];
};

struct hyv_window_release {
	__le64 offset;		/* BAR2 byte offset the host returned for the ring */
};

/*
 * Memory registration. Guest and host pages are HYV_PAGE_SIZE bytes. The
 * buffer [start, start + length) covers npages guest pages; their DMA
 * (guest-physical) addresses are listed, in order, in list pages of
 * HYV_MR_LIST_ENTRIES __le64 each (the last one partly used), and the
 * command carries the list pages' own addresses. The host needs only the
 * offset of start in its first page; it never uses a guest virtual address.
 */
#define HYV_PAGE_SIZE 4096u
#define HYV_MR_LIST_ENTRIES (HYV_PAGE_SIZE / sizeof(__le64))
/* Bounds one command's size (HYV_CMD_MAX_LEN): at most 512 MiB per region. */
#define HYV_MR_MAX_LISTS 256u
#define HYV_MR_MAX_PAGES (HYV_MR_MAX_LISTS * HYV_MR_LIST_ENTRIES)

struct hyv_reg_mr {
	__le64 start;		/* guest virtual address: its page offset matters */
	__le64 length;		/* bytes, at least 1 */
	__le64 hca_va;		/* the address work requests use for this region */
	__le32 pd_handle;	/* host handle of the protection domain */
	__le32 access_flags;	/* IB_UVERBS_ACCESS_* (no on-demand paging) */
	__le32 npages;		/* pages covering [start, start + length) */
	__le32 nr_lists;	/* DIV_ROUND_UP(npages, HYV_MR_LIST_ENTRIES) */
	__le64 lists[];		/* DMA addresses of the list pages */
};

struct hyv_reg_mr_resp {
	__le32 mr_handle;	/* host uverbs handle, for DEREG_MR */
	__le32 lkey;
	__le32 rkey;
	__le32 reserved;
};

/*
 * Events (docs/control-path.md). The ring is guest memory: a struct
 * hyv_event_ring_hdr, then `entries` struct hyv_event. The host writes event
 * prod % entries, then advances prod; the guest consumes up to prod and
 * advances cons. An event that finds the ring full is not written: the host
 * sets overflow instead, and the guest then treats every CQ as notified
 * (a spurious completion event is harmless, a lost one is not).
 */
#define HYV_EVENT_RING_MAX_ENTRIES 4096u

struct hyv_event_ring {
	__le64 addr;		/* DMA address of the ring, 8-byte aligned */
	__le32 entries;		/* 1 .. HYV_EVENT_RING_MAX_ENTRIES */
	__le32 reserved;
};

struct hyv_event_ring_hdr {
	__le32 prod;		/* host: events written (wraps) */
	__le32 cons;		/* guest: events consumed (wraps) */
	__le32 overflow;	/* host sets 1, guest clears */
	__le32 reserved;
};

/* hyv_event.type */
enum hyv_event_type {
	/* A CQ armed with REQ_NOTIFY_CQ got a completion. cookie: the user_handle
	 * the guest gave in that CQ's CREATE_CQ command. */
	HYV_EVENT_COMPLETION = 1,
	/* An asynchronous event of the host device, as uverbs reports it on the
	 * context's async event file. async_event: the uverbs event type (enum
	 * ib_event_type, the IBV_EVENT_* numbers). cookie: for an event of a QP,
	 * SRQ or CQ, the user_handle the guest gave when creating it; for a port
	 * event, the port number; for a device event, 0. Port and device events
	 * reach every context of the instance. */
	HYV_EVENT_ASYNC = 2,
	/* The host rdma_cm context ctx has an event queued: a GET_EVENT on it
	 * returns one now. cookie: 0. */
	HYV_EVENT_CM = 3,
};

struct hyv_event {
	__le16 type;		/* enum hyv_event_type */
	__le16 async_event;	/* HYV_EVENT_ASYNC: the uverbs event type */
	__le32 ctx;		/* context handle the object belongs to */
	__le64 cookie;
};

#endif /* HYV_ABI_H */
