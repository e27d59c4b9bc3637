//! Weights on 2 MiB pages. A decode step streams every weight once; on 4 KiB pages that is a
//! TLB miss every 4 KiB, and the page walks can cap the bandwidth two cores reach (measured here,
//! reading 540 MB: 23–34 GB/s on 4 KiB pages depending on the machine's load, 34 on 2 MiB ones;
//! `tools/compare/bandwidth.c`). Linux backs anonymous memory
//! with huge pages only where asked when its setting is `madvise`, as on our machines.

/// Asks Linux to back the whole 2 MiB pages inside `bytes` with huge pages: for pages not yet
/// touched (`MADV_HUGEPAGE`) and, when `collapse`, for those already written (`MADV_COLLAPSE`,
/// Linux 6.1+, which copies them into huge pages now). Advice only: where the kernel declines
/// (another OS, an older kernel, THP switched off) nothing changes but speed.
pub(crate) fn advise(bytes: &[u8], collapse: bool) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        const MADV_COLLAPSE: libc::c_int = 25;
        let start = (bytes.as_ptr() as usize).next_multiple_of(HUGE);
        let end = (bytes.as_ptr() as usize + bytes.len()) / HUGE * HUGE;
        if end <= start {
            return;
        }
        let (ptr, len) = (start as *mut libc::c_void, end - start);
        // SAFETY: the range lies within `bytes`, memory this process owns; advice changes how
        // it is backed, never its contents.
        unsafe {
            libc::madvise(ptr, len, libc::MADV_HUGEPAGE);
            if collapse {
                libc::madvise(ptr, len, MADV_COLLAPSE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (bytes, collapse);
}
