/**
 * The seccomp filter of the bubblewrap sandbox: a classic-BPF program (seccomp(2),
 * SECCOMP_MODE_FILTER) that bwrap installs with `--seccomp FD` just before it execs the command.
 * It refuses at least what Docker's default profile refuses to a container without capabilities:
 * kernel modules, keyrings, bpf, perf, ptrace and cross-process memory access, mounts and new
 * namespaces, clocks, swap, reboot, NUMA policy, io_uring, and the ABIs of other architectures.
 *
 * There is no maintained libseccomp binding for Node, so the program is assembled here: check the
 * architecture (any other ABI, including x32 and i386 on x86-64, kills the process), load the
 * syscall number, compare it with each refused number (EPERM), check the flags of `clone` and
 * the persona of `personality`, answer `clone3` with ENOSYS (so libc falls back to `clone`,
 * whose flags a filter can read), allow the rest.
 */

/** Syscalls refused with EPERM (names as in the kernel's syscall tables). */
export const DENIED_SYSCALLS = [
  "acct",
  "add_key",
  "bpf",
  "clock_adjtime",
  "clock_settime",
  "create_module",
  "delete_module",
  "fanotify_init",
  "finit_module",
  "fsconfig",
  "fsmount",
  "fsopen",
  "fspick",
  "get_kernel_syms",
  "get_mempolicy",
  "init_module",
  "io_uring_enter",
  "io_uring_register",
  "io_uring_setup",
  "ioperm",
  "iopl",
  "kcmp",
  "kexec_file_load",
  "kexec_load",
  "keyctl",
  "lookup_dcookie",
  "mbind",
  "mount",
  "mount_setattr",
  "move_mount",
  "move_pages",
  "name_to_handle_at",
  "nfsservctl",
  "open_by_handle_at",
  "open_tree",
  "perf_event_open",
  "pivot_root",
  "process_vm_readv",
  "process_vm_writev",
  "ptrace",
  "query_module",
  "quotactl",
  "quotactl_fd",
  "reboot",
  "request_key",
  "set_mempolicy",
  "set_mempolicy_home_node",
  "setns",
  "settimeofday",
  "stime",
  "swapoff",
  "swapon",
  "syslog",
  "sysfs",
  "_sysctl",
  "umount",
  "umount2",
  "unshare",
  "uselib",
  "userfaultfd",
  "ustat",
  "vhangup",
  "vm86",
  "vm86old",
] as const;

type Table = Readonly<Record<string, number>>;

/** arch/x86/entry/syscalls/syscall_64.tbl (the names x86-64 has; stime, umount, vm86* it has not). */
// biome-ignore format: a table
const X86_64: Table = {
  acct: 163, add_key: 248, bpf: 321, clock_adjtime: 305, clock_settime: 227, create_module: 174,
  delete_module: 176, fanotify_init: 300, finit_module: 313, fsconfig: 431, fsmount: 432, fsopen: 430,
  fspick: 433, get_kernel_syms: 177, get_mempolicy: 239, init_module: 175, io_uring_enter: 426,
  io_uring_register: 427, io_uring_setup: 425, ioperm: 173, iopl: 172, kcmp: 312, kexec_file_load: 320,
  kexec_load: 246, keyctl: 250, lookup_dcookie: 212, mbind: 237, mount: 165, mount_setattr: 442,
  move_mount: 429, move_pages: 279, name_to_handle_at: 303, nfsservctl: 180, open_by_handle_at: 304,
  open_tree: 428, perf_event_open: 298, pivot_root: 155, process_vm_readv: 310, process_vm_writev: 311,
  ptrace: 101, query_module: 178, quotactl: 179, quotactl_fd: 443, reboot: 169, request_key: 249,
  set_mempolicy: 238, set_mempolicy_home_node: 450, setns: 308, settimeofday: 164, swapoff: 168,
  swapon: 167, syslog: 103, sysfs: 139, _sysctl: 156, umount2: 166, unshare: 272, uselib: 134,
  userfaultfd: 323, ustat: 136, vhangup: 153,
  clone: 56, clone3: 435, personality: 135,
};

/** include/uapi/asm-generic/unistd.h, which arm64 uses (no legacy calls). */
// biome-ignore format: a table
const AARCH64: Table = {
  acct: 89, add_key: 217, bpf: 280, clock_adjtime: 266, clock_settime: 112, delete_module: 106,
  fanotify_init: 262, finit_module: 273, fsconfig: 431, fsmount: 432, fsopen: 430, fspick: 433,
  get_mempolicy: 236, init_module: 105, io_uring_enter: 426, io_uring_register: 427, io_uring_setup: 425,
  kcmp: 272, kexec_file_load: 294, kexec_load: 104, keyctl: 219, lookup_dcookie: 18, mbind: 235,
  mount: 40, mount_setattr: 442, move_mount: 429, move_pages: 239, name_to_handle_at: 264,
  nfsservctl: 42, open_by_handle_at: 265, open_tree: 428, perf_event_open: 241, pivot_root: 41,
  process_vm_readv: 270, process_vm_writev: 271, ptrace: 117, quotactl: 60, quotactl_fd: 443,
  reboot: 142, request_key: 218, set_mempolicy: 237, set_mempolicy_home_node: 450, setns: 268,
  settimeofday: 170, swapoff: 225, swapon: 224, syslog: 116, umount2: 39, unshare: 97,
  userfaultfd: 282, vhangup: 58,
  clone: 220, clone3: 435, personality: 92,
};

interface Arch {
  /** AUDIT_ARCH_* of include/uapi/linux/audit.h: what seccomp_data.arch holds. */
  readonly audit: number;
  readonly table: Table;
  /** x86-64 shares its AUDIT_ARCH with x32, whose numbers have this bit set. */
  readonly x32Bit?: number;
}
export const ARCHES: Readonly<Record<string, Arch>> = {
  x64: { audit: 0xc000003e, table: X86_64, x32Bit: 0x40000000 },
  arm64: { audit: 0xc00000b7, table: AARCH64 },
};

/** The namespace flags of clone(2) (CLONE_NEWNS … CLONE_NEWNET), refused like unshare. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;
/** personality(2) values Docker allows: PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE, both, and the query. */
export const ALLOWED_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff] as const;

export const RET = {
  killProcess: 0x80000000,
  errno: (e: number) => (0x00050000 | (e & 0xffff)) >>> 0,
  allow: 0x7fff0000,
} as const;
export const EPERM = 1;
export const ENOSYS = 38;

// struct seccomp_data: nr (u32), arch (u32), instruction_pointer (u64), args[6] (u64, little-endian).
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG0_LO = 16;

/** One classic-BPF instruction (struct sock_filter). */
export interface Insn {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}
const LD_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K = 0x06; // BPF_RET | BPF_K

type Target = string | null; // a label, or null for the next instruction
type Op = { label: string } | { code: number; k: number; jt?: Target; jf?: Target };

/** Resolves labels into the forward offsets classic BPF jumps take (at most 255). */
function assemble(ops: readonly Op[]): Insn[] {
  const labels = new Map<string, number>();
  const insns: Exclude<Op, { label: string }>[] = [];
  for (const op of ops) {
    if ("label" in op) labels.set(op.label, insns.length);
    else insns.push(op);
  }
  return insns.map((op, i) => {
    const offset = (t: Target | undefined) => {
      if (t === undefined || t === null) return 0;
      const to = labels.get(t);
      if (to === undefined) throw new Error(`seccomp: no label ${t}`);
      const d = to - (i + 1);
      if (d < 0 || d > 255) throw new Error(`seccomp: jump to ${t} out of range (${d})`);
      return d;
    };
    return { code: op.code, k: op.k >>> 0, jt: offset(op.jt), jf: offset(op.jf) };
  });
}

/** The filter for one architecture (process.arch by default), as instructions. */
export function seccompProgram(arch: string = process.arch): Insn[] {
  const a = ARCHES[arch];
  if (!a) throw new Error(`seccomp: no syscall table for the ${arch} architecture`);
  const ops: Op[] = [
    { code: LD_ABS, k: OFF_ARCH },
    { code: JEQ, k: a.audit, jt: null, jf: "kill" },
    { code: LD_ABS, k: OFF_NR },
  ];
  if (a.x32Bit) ops.push({ code: JGE, k: a.x32Bit, jt: "kill", jf: null });
  for (const name of DENIED_SYSCALLS) {
    const nr = a.table[name];
    if (nr !== undefined) ops.push({ code: JEQ, k: nr, jt: "deny", jf: null });
  }
  ops.push(
    { code: JEQ, k: a.table.clone!, jt: "clone", jf: null },
    { code: JEQ, k: a.table.clone3!, jt: "enosys", jf: null },
    { code: JEQ, k: a.table.personality!, jt: "personality", jf: null },
    { code: RET_K, k: RET.allow },
    { label: "clone" },
    { code: LD_ABS, k: OFF_ARG0_LO },
    { code: JSET, k: CLONE_NAMESPACE_FLAGS, jt: "deny", jf: "allow" },
    { label: "personality" },
    { code: LD_ABS, k: OFF_ARG0_LO },
    ...ALLOWED_PERSONALITIES.map((p): Op => ({ code: JEQ, k: p, jt: "allow", jf: null })),
    { code: RET_K, k: RET.errno(EPERM) },
    { label: "allow" },
    { code: RET_K, k: RET.allow },
    { label: "deny" },
    { code: RET_K, k: RET.errno(EPERM) },
    { label: "enosys" },
    { code: RET_K, k: RET.errno(ENOSYS) },
    { label: "kill" },
    { code: RET_K, k: RET.killProcess },
  );
  return assemble(ops);
}

/** The program as the bytes of a `struct sock_filter[]`, what bwrap reads from `--seccomp FD`. */
export function encodeProgram(insns: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((ins, i) => {
    buf.writeUInt16LE(ins.code, i * 8);
    buf.writeUInt8(ins.jt, i * 8 + 2);
    buf.writeUInt8(ins.jf, i * 8 + 3);
    buf.writeUInt32LE(ins.k, i * 8 + 4);
  });
  return buf;
}

let cached: Buffer | undefined;
/** The encoded filter of this machine's architecture, built once. */
export function seccompFilter(): Buffer {
  cached ??= encodeProgram(seccompProgram());
  return cached;
}

/** Runs a program on one syscall the way the kernel would (for tests): the action it returns. */
export function evaluate(
  insns: readonly Insn[],
  call: { nr: number; arch: number; args?: readonly number[] },
): number {
  const word = (off: number) => {
    if (off === OFF_NR) return call.nr >>> 0;
    if (off === OFF_ARCH) return call.arch >>> 0;
    if (off >= 16 && off < 64 && off % 8 === 0) return (call.args?.[(off - 16) / 8] ?? 0) >>> 0;
    throw new Error(`seccomp: load from unsupported offset ${off}`);
  };
  let acc = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const ins = insns[pc]!;
    switch (ins.code) {
      case LD_ABS:
        acc = word(ins.k);
        break;
      case JEQ:
        pc += acc === ins.k ? ins.jt : ins.jf;
        break;
      case JGE:
        pc += acc >= ins.k ? ins.jt : ins.jf;
        break;
      case JSET:
        pc += (acc & ins.k) !== 0 ? ins.jt : ins.jf;
        break;
      case RET_K:
        return ins.k;
      default:
        throw new Error(`seccomp: unknown instruction ${ins.code}`);
    }
  }
  throw new Error("seccomp: program fell off its end");
}
