//! Branch-free byte comparisons for the padding checks, so that the time a
//! check takes does not tell which byte was wrong.

/// 0xFF if `x` is zero, 0x00 otherwise, computed without a branch so that
/// the padding checks take the same time whichever byte is wrong.
pub(super) fn ct_is_zero(x: u8) -> u8 {
    let x = u32::from(x);
    // For x ≠ 0, x | −x has its top bit set; for x = 0 it is 0.
    let nonzero = ((x | x.wrapping_neg()) >> 31) as u8;
    nonzero.wrapping_sub(1)
}

/// `a` if `mask` is 0xFF, `b` if it is 0x00, without a branch.
pub(super) fn ct_select_usize(mask: u8, a: usize, b: usize) -> usize {
    let m = usize::from(mask & 1).wrapping_neg();
    (a & m) | (b & !m)
}

/// 0xFF if `a >= b`, 0x00 otherwise, without a branch.
pub(super) fn ct_ge_usize(a: usize, b: usize) -> u8 {
    let (_, borrow) = a.overflowing_sub(b);
    ct_is_zero(u8::from(borrow))
}
