# Classifies `perf script -F comm,tid,ip,sym,dso` output of lifeline serve (or
# lifeline-bench --target inprocess) by thread role and cost class: the
# tables of docs/BENCHMARKS.md (issue 14). Usage: perf_classify.py SCRIPT_OUTPUT
import sys, re, collections
# Reads `perf script -F comm,tid,ip,sym,dso` output; prints shares by thread role, by cost class, and hop.
path = sys.argv[1]
samples = []
cur = None
for line in open(path, errors='replace'):
    if not line.strip():
        if cur: samples.append(cur); cur = None
        continue
    if not line.startswith('\t') and not line.startswith(' ' * 8 + ' '):
        parts = line.split()
        if len(parts) >= 2 and parts[-1].isdigit():
            if cur: samples.append(cur)
            cur = (' '.join(parts[:-1]), [])
            continue
    if cur is not None:
        m = re.match(r'\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$', line)
        if m: cur[1].append((m.group(1), m.group(2)))
if cur: samples.append(cur)
N = len(samples)
role = {'lifeline': 'asio (HTTP I/O threads)', 'caf.multiplexer': 'CAF scheduler workers (bridge, coordinator, pool actors)',
        'caf.actor': 'detached workers (libpq calls)', 'caf.clock': 'CAF clock thread (request timeouts)'}
def cls(frames):
    syms = [f[0] for f in frames]; dsos = [f[1] for f in frames]
    leaf = syms[0] if syms else ''
    joined = ' | '.join(syms)
    kern = [s for s, d in frames if 'kernel' in d]
    user = [(s, d) for s, d in frames if 'kernel' not in d]
    uleaf = user[0][0] if user else ''
    udso = user[0][1] if user else ''
    if kern:
        k = ' '.join(kern)
        if 'futex_wait' in k or ('schedule' in k and ('futex' in k)): return 'kernel: futex wait (thread sleeps, context switch)'
        if 'futex_wake' in k or 'futex' in k: return 'kernel: futex wake (waking another thread)'
        if 'epoll_wait' in k or 'do_sys_poll' in k or 'poll' in uleaf or 'epoll_wait' in uleaf:
            return 'kernel: poll/epoll_wait (incl. sleeping in it)'
        if any(x in k for x in ('tcp_', 'sock_', 'recvmsg', 'sendmsg', 'sendto', 'recvfrom', '__sys_recv', '__sys_send', 'inet_', 'unix_', 'skb', 'sock_read', 'sock_write', 'ksys_read', 'ksys_write', 'vfs_read', 'vfs_write')):
            return 'kernel: socket send/recv'
        if 'epoll_ctl' in k: return 'kernel: epoll_ctl'
        if 'reschedule_ipi' in k or 'irqentry' in k or 'sysvec' in k or 'asm_' in k: 
            # interrupt while in user space: attribute to user leaf
            pass
        else:
            return 'kernel: other syscalls/irq (' + (kern[-3] if len(kern) >= 3 else kern[-1]) + ')'
    s = uleaf
    if re.search(r'(malloc|_int_free|cfree|libc_free|^free$|tcache|operator new|operator delete|unlink_chunk)', s): return 'malloc/free'
    if 'json_writer' in joined or 'to_chars' in s or '__to_chars' in s or 'ryu' in s.lower() or 'floats' in s: 
        if 'json_writer' in joined or 'to_chars' in s: return 'JSON encode'
    if 'parse_' in joined and 'request_parser' in joined: return 'JSON decode (request bodies)'
    if 'simdjson' in joined: return 'JSON decode (request bodies)'
    if 'libpq' in udso or 'pqxx' in udso or 'decode_bytea' in s or 'pqxx' in s: return 'libpq/libpqxx (client side)'
    if 'hnsw' in joined.lower() and ('searchBaseLayer' in joined or 'searchKnn' in joined or 'L2Sqr' in joined or 'InnerProduct' in joined): return 'hnswlib search'
    if 'prometheus' in udso or 'prometheus' in s: return 'prometheus metrics'
    if 'beast' in s: return 'Beast HTTP parse/serialize'
    if 'asio' in s: return 'asio runtime (user space)'
    if 'caf' in udso or 'caf::' in s: return 'CAF runtime (user space)'
    if re.search(r'futex|pthread_cond|pthread_mutex|lll_lock|lll_mutex|condvar', s): return 'libc futex/mutex/condvar (user side)'
    if re.search(r'poll|epoll|recv|send|syscall|clock_gettime', s): return 'libc syscall wrappers'
    if 'libc' in udso: return 'libc other (' + s[:40] + ')'
    if 'libstdc++' in udso: return 'libstdc++ other'
    return 'lifeline code/other (' + s[:60] + ')'
hop_pat = [('bridge/coordinator_client', r'coordinator_client|bridge'), ('coordinator', r'coordinator'), ('pool actor', r'\bpool\b|pool_state'), ('detached worker', r'worker_state|private_thread'),
           ('http_api', r'http_api'), ('http session', r'session'), ('reply gate', r'reply_gate')]
def hop(frames):
    j = ' '.join(f[0] for f in frames)
    for name, p in hop_pat:
        if re.search(p, j): return name
    return '-'
by_role = collections.Counter(); by_cls = collections.Counter(); by_role_cls = collections.defaultdict(collections.Counter); by_hop = collections.Counter()
for comm, frames in samples:
    r = role.get(comm, comm); c = cls(frames)
    by_role[r] += 1; by_cls[c] += 1; by_role_cls[r][c] += 1; by_hop[(r, hop(frames))] += 1
pct = lambda n: '%5.1f%%' % (100.0 * n / N)
print('samples: %d' % N)
print('\n## by thread'); [print(pct(n), r) for r, n in by_role.most_common()]
print('\n## by cost class (all threads)'); [print(pct(n), c) for c, n in by_cls.most_common(25)]
for r, cnt in by_role.most_common():
    print('\n## %s: %s' % (r, pct(sum(cnt for cnt in by_role_cls[r].values()))))
    for c, n in by_role_cls[r].most_common(12): print('  ', pct(n), c)
print('\n## by thread and hop (innermost lifeline frame seen in stack)')
for (r, h), n in sorted(by_hop.items(), key=lambda x: -x[1])[:20]: print(pct(n), r, '/', h)
