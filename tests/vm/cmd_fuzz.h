/* SPDX-License-Identifier: GPL-2.0-only */
/* cmd_fuzz's command channel helpers, shared by its parts (cmd_fuzz.c, cmd_fuzz_queues.c, cmd_fuzz_mr.c). */
#ifndef HYV_TEST_CMD_FUZZ_H
#define HYV_TEST_CMD_FUZZ_H

#include <stdint.h>

#include <hyv/hyv_abi.h>

extern int failures, checks;
/* Per thread (race mode has several): */
extern __thread uint8_t *page;	/* the command page */
extern __thread uint64_t page_gpa;	/* its guest-physical address */
extern __thread int ring_racy;	/* ring() skips the shared lock now and then */
extern int vfio_device;		/* vfio mode: the device fd; pci mode: -1 */

/* vfio-pci's region offsets in the device fd: index << 40. */
#define VFIO_REGION_SHIFT 40

uint64_t rng(void);
void rng_seed(uint64_t seed);
uint32_t reg_read(uint32_t off);
void reg_write(uint32_t off, uint32_t value);
void die(const char *what);
void expect(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct hyv_cmd_hdr *hdr(void);
uint32_t resp_off(uint32_t in_len);
uint32_t ring(uint64_t gpa, uint32_t len);
uint32_t run(uint32_t op, uint32_t ctx, const void *in, uint32_t in_len, uint32_t out_len);
void expect_status(uint32_t got, uint32_t err, const char *what);
uint32_t ctx_open(uint32_t *ctx);
uint32_t try_get_context(uint32_t ctx);
void get_context(uint32_t ctx);
uint32_t run_uverbs(uint32_t ctx, uint32_t command, const void *body, uint32_t body_len,
		    uint32_t out_len);
void *uverbs_resp(uint32_t body_len);
uint32_t alloc_pd(uint32_t ctx, uint32_t *pd);
uint32_t random_command(uint32_t ctx);

/* cmd_fuzz_queues.c: vfio mode only */
void queue_checks(void);
uint32_t create_cq_handle(uint32_t ctx, uint32_t cqe, uint32_t *handle);
uint32_t destroy_cq(uint32_t ctx, uint32_t handle);

/* cmd_fuzz_ah.c: vfio mode only */
void ah_checks(uint32_t ctx);

/* cmd_fuzz_mr.c: vfio mode only */
extern const char *mdev_uuid;	/* whose quota/ quota_read() reads */
void mr_checks(int container, const char *uuid);
void *map_guest_ram(int container, int fd, uint32_t pages, uint64_t iova);
uint64_t quota_read(const char *name);
void quota_write(const char *name, uint64_t value);
uint64_t mdev_attr_read(const char *folder, const char *name);

/* cmd_fuzz_cm.c: vfio mode only, after mr_checks (mdev_uuid set) */
void cm_checks(void);

/* cmd_fuzz_race.c: race mode */
void race_checks(int container, const char *uuid, unsigned int seconds);

#endif /* HYV_TEST_CMD_FUZZ_H */
