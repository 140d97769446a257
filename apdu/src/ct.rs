//! Branch-free comparisons for padding checks, so that the time a check
//! takes does not tell which byte was wrong (the Bleichenbacher and Manger
//! oracles). Shared by [`crate::piv::padding`] and firma-pkcs11's OAEP.

/// 0xFF if `x` is zero, 0x00 otherwise, computed without a branch so that
/// the padding checks take the same time whichever byte is wrong.
pub fn is_zero(x: u8) -> u8 {
    let x = u32::from(x);
    // For x ≠ 0, x | −x has its top bit set; for x = 0 it is 0.
    let nonzero = ((x | x.wrapping_neg()) >> 31) as u8;
    nonzero.wrapping_sub(1)
}

/// `a` if `mask` is 0xFF, `b` if it is 0x00, without a branch.
pub fn select_usize(mask: u8, a: usize, b: usize) -> usize {
    let m = usize::from(mask & 1).wrapping_neg();
    (a & m) | (b & !m)
}

/// 0xFF if `a >= b`, 0x00 otherwise, without a branch.
pub fn ge_usize(a: usize, b: usize) -> u8 {
    let (_, borrow) = a.overflowing_sub(b);
    is_zero(u8::from(borrow))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn masks_agree_with_comparisons(x in any::<u8>(), a in any::<usize>(), b in any::<usize>()) {
            prop_assert_eq!(is_zero(x), if x == 0 { 0xFF } else { 0 });
            prop_assert_eq!(ge_usize(a, b), if a >= b { 0xFF } else { 0 });
            prop_assert_eq!(select_usize(0xFF, a, b), a);
            prop_assert_eq!(select_usize(0, a, b), b);
        }
    }
}
