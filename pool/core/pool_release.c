/* pool_release.c - ending leases and looking them up (contract in pool.h).
 *
 * A release proves itself with the lease token, compared in constant time.
 * It is journaled (fsync'd) as DESTROYING before the VM is touched, so once
 * a client is told "released", a restart will not bring the lease back; a
 * crash mid-destroy leaves a DESTROYING record that the next start finishes.
 * Threads: any registered thread (pool_call_enter registers it). */
#include "pool_internal.h"

#include <errno.h>  /* ENOENT, EPERM, EALREADY */
#include <sched.h>  /* sched_yield */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* qsort */
#include <string.h> /* strcmp */

#include "wp_log.h"

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Constant-time in the token's content: a guess learns nothing from timing. */
static bool token_matches(const pool_vm_t *vm, const char *hex)
{
    if (hex == NULL || strlen(hex) != POOL_TOKEN_HEX_LEN)
        return false;
    unsigned diff = 0;
    for (size_t i = 0; i < POOL_TOKEN_BYTES; i++) {
        int hi = unhex(hex[2 * i]), lo = unhex(hex[2 * i + 1]);
        diff |= (unsigned)(hi < 0) | (unsigned)(lo < 0);
        diff |= (unsigned)(((hi << 4) | (lo & 0x0f)) & 0xff) ^ vm->token[i];
    }
    return diff == 0;
}

static bool is_lease(int state)
{
    return state == POOL_VM_LEASED || state == POOL_VM_MARKING || state == POOL_VM_DEAD ||
           state == POOL_VM_DESTROYING || state == POOL_VM_GONE;
}

/* Under the RCU read lock: find the lease and check its token. */
static pool_vm_t *find_lease(pool_t *pool, const char *id, const char *token, wp_error_t *err)
{
    pool_vm_t *vm = pool_vm_lookup(pool, id);
    /* a VM still being set up for a lease (ACQUIRING) is nobody's lease yet */
    if (vm == NULL || !is_lease(atomic_load(&vm->state))) {
        wp_error_set(err, ENOENT, "no lease of VM '%s' (never leased, or already released)", id);
        return NULL;
    }
    if (!token_matches(vm, token)) {
        wp_error_set(err, EPERM, "lease of VM '%s': wrong token", id);
        return NULL;
    }
    return vm;
}

/* Under the RCU read lock: LEASED or DEAD -> DESTROYING, making us the owner. */
static int claim(pool_vm_t *vm, int *was, wp_error_t *err)
{
    for (;;) {
        int state = atomic_load(&vm->state);
        if (state == POOL_VM_DESTROYING || state == POOL_VM_GONE)
            return wp_error_set(err, EALREADY, "lease of VM '%s' is already being released",
                                vm->info.id);
        if (state == POOL_VM_MARKING) {
            /* the watcher is journaling its death: a few microseconds */
            sched_yield();
            continue;
        }
        if (atomic_compare_exchange_strong(&vm->state, &state, POOL_VM_DESTROYING)) {
            *was = state;
            return 0;
        }
    }
}

int pool_release(pool_t *pool, const char *id, const char *token, pool_release_result_t *out,
                 wp_error_t *err)
{
    if (pool_call_enter(pool, err) < 0)
        return -1;
    int was = 0, ret = -1;
    urcu_memb_read_lock();
    pool_vm_t *vm = find_lease(pool, id, token, err);
    if (vm != NULL)
        ret = claim(vm, &was, err);
    urcu_memb_read_unlock();
    if (ret < 0)
        goto out;
    /* We own vm now: nobody else moves it out of DESTROYING. */
    pool_tpl_t *t = vm->tpl;
    if (pool_vm_journal(pool, vm, POOL_JREC_DESTROYING, true, err) < 0) {
        atomic_store(&vm->state, was); /* not released: the client may retry */
        if (was == POOL_VM_LEASED && atomic_load(&vm->exited))
            pool_vm_mark_dead(pool, vm);
        ret = wp_error_wrap(err, "release of VM '%s'", id);
        goto out;
    }
    bool died = was == POOL_VM_DEAD || atomic_load(&vm->exited);
    atomic_fetch_sub(was == POOL_VM_DEAD ? &t->dead : &t->leased, 1);
    pool_counter_inc(&t->stats.releases);
    pool_vm_destroy(pool, vm, died ? "released after it died" : "released");
    pool_vm_retire(pool, vm);
    if (out != NULL)
        out->vm_died = died;
    ret = 0;
out:
    pool_call_leave(pool);
    return ret;
}

int pool_lease_check(pool_t *pool, const char *id, const char *token, pool_lease_state_t *out,
                     wp_error_t *err)
{
    if (pool_call_enter(pool, err) < 0)
        return -1;
    urcu_memb_read_lock();
    pool_vm_t *vm = find_lease(pool, id, token, err);
    int state = vm ? atomic_load(&vm->state) : 0;
    urcu_memb_read_unlock();
    pool_call_leave(pool);
    if (vm == NULL)
        return -1;
    if (state == POOL_VM_DESTROYING || state == POOL_VM_GONE)
        return wp_error_set(err, ENOENT, "lease of VM '%s' is being released", id);
    *out = state == POOL_VM_LEASED ? POOL_LEASE_ACTIVE : POOL_LEASE_DEAD;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const pool_lease_summary_t *)a)->vm.id,
                  ((const pool_lease_summary_t *)b)->vm.id);
}

int pool_leases(pool_t *pool, pool_lease_summary_t **out, size_t *count, wp_error_t *err)
{
    if (pool_call_enter(pool, err) < 0)
        return -1;
    size_t n = 0, cap = 16;
    pool_lease_summary_t *list = malloc(cap * sizeof(*list));
    struct cds_lfht_iter iter;
    pool_vm_t *vm;
    urcu_memb_read_lock();
    cds_lfht_for_each_entry(pool->vms, &iter, vm, table_node)
    {
        int state = atomic_load(&vm->state);
        if (list == NULL ||
            (state != POOL_VM_LEASED && state != POOL_VM_DEAD && state != POOL_VM_MARKING))
            continue;
        if (n == cap) {
            pool_lease_summary_t *grown = realloc(list, 2 * cap * sizeof(*list));
            if (grown == NULL) {
                free(list);
                list = NULL;
                continue;
            }
            list = grown;
            cap *= 2;
        }
        pool_lease_summary_t *s = &list[n++];
        memset(s, 0, sizeof(*s));
        snprintf(s->template_name, sizeof(s->template_name), "%s", vm->tpl->name);
        s->vm = vm->info;
        s->state = state == POOL_VM_LEASED ? POOL_LEASE_ACTIVE : POOL_LEASE_DEAD;
        s->leased_at_ns = vm->leased_at_ns;
    }
    urcu_memb_read_unlock();
    pool_call_leave(pool);
    if (list == NULL)
        return wp_error_errno(err, ENOMEM, "list leases");
    qsort(list, n, sizeof(*list), by_id);
    *out = list;
    *count = n;
    return 0;
}
