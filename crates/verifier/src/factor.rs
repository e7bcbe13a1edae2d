//! Prime factorisation of 64-bit integers, for square-free radicals and logarithms.
//!
//! `sqrt(72)` is only recognised as `6 sqrt(2)` once `72 = 2^3 3^2` is known, so radicands and
//! logarithm arguments are factored into primes. Numbers up to 2^64 are factored completely and
//! quickly (trial division by small primes, then a deterministic Miller-Rabin test and Pollard's
//! rho with Brent's cycle detection); larger numbers are refused by the caller.

/// Primes tried by trial division before the probabilistic machinery starts.
const SMALL_PRIMES: [u64; 25] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
];

/// Returns the prime factorisation of `n` as `(prime, multiplicity)` pairs in increasing order.
///
/// `factorize(0)` and `factorize(1)` return an empty list.
#[cfg(test)]
pub(crate) fn factorize(n: u64) -> Vec<(u64, u32)> {
    factorize_counted(n).0
}

/// [`factorize`], also returning the number of modular multiplications spent (at most a few
/// hundred thousand for the hardest 64-bit semiprimes), so callers can charge for the work.
pub(crate) fn factorize_counted(mut n: u64) -> (Vec<(u64, u32)>, u64) {
    let mut primes = Vec::new();
    let mut work = 0u64;
    if n < 2 {
        return (Vec::new(), 0);
    }
    for &p in &SMALL_PRIMES {
        while n.is_multiple_of(p) {
            primes.push(p);
            n /= p;
        }
    }
    let mut stack = vec![n];
    while let Some(m) = stack.pop() {
        if m == 1 {
            continue;
        }
        work += 64 * 12;
        if is_prime(m) {
            primes.push(m);
            continue;
        }
        let (d, steps) = pollard_brent(m);
        work += steps;
        stack.push(d);
        stack.push(m / d);
    }
    primes.sort_unstable();
    let mut out: Vec<(u64, u32)> = Vec::new();
    for p in primes {
        match out.last_mut() {
            Some((q, k)) if *q == p => *k += 1,
            _ => out.push((p, 1)),
        }
    }
    (out, work)
}

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((a as u128 * b as u128) % m as u128) as u64
}

fn pow_mod(mut b: u64, mut e: u64, m: u64) -> u64 {
    let mut r = 1 % m;
    b %= m;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod(r, b, m);
        }
        b = mul_mod(b, b, m);
        e >>= 1;
    }
    r
}

/// Deterministic Miller-Rabin for all 64-bit integers (the first twelve primes as witnesses).
pub(crate) fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    for &p in &SMALL_PRIMES[..12] {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'witness: for &a in &SMALL_PRIMES[..12] {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Returns a non-trivial divisor of the odd composite `n` (Pollard's rho, Brent's variant) and
/// the number of steps taken.
///
/// The sequence constant `c` is stepped deterministically, so the result never depends on a
/// random source.
fn pollard_brent(n: u64) -> (u64, u64) {
    if n.is_multiple_of(2) {
        return (2, 1);
    }
    let mut c = 1u64;
    let steps = std::cell::Cell::new(0u64);
    loop {
        let f = |x: u64| {
            steps.set(steps.get() + 1);
            ((mul_mod(x, x, n) as u128 + c as u128) % n as u128) as u64
        };
        let (mut x, mut y, mut q, mut g, mut r) = (2u64, 2u64, 1u64, 1u64, 1u64);
        let mut ys = 2u64;
        const BLOCK: u64 = 64;
        while g == 1 {
            x = y;
            for _ in 0..r {
                y = f(y);
            }
            let mut k = 0;
            while k < r && g == 1 {
                ys = y;
                for _ in 0..BLOCK.min(r - k) {
                    y = f(y);
                    q = mul_mod(q, x.abs_diff(y), n);
                }
                g = gcd(q, n);
                k += BLOCK;
            }
            r *= 2;
        }
        if g == n {
            loop {
                ys = f(ys);
                g = gcd(x.abs_diff(ys), n);
                if g > 1 {
                    break;
                }
            }
        }
        if g != n {
            return (g, steps.get());
        }
        c += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factorisations_multiply_back_to_the_number() {
        for n in [
            2u64,
            72,
            97,
            1001,
            65_536,
            999_999_937,
            600_851_475_143,
            (1 << 61) - 1,
            4_294_967_291 * 4_294_967_279,
            u64::MAX,
        ] {
            let f = factorize(n);
            let back = f
                .iter()
                .fold(1u128, |acc, &(p, k)| acc * (p as u128).pow(k));
            assert_eq!(back, n as u128, "{n}: {f:?}");
            assert!(f.iter().all(|&(p, _)| is_prime(p)), "{n}: {f:?}");
        }
    }

    #[test]
    fn miller_rabin_agrees_with_trial_division_below_ten_thousand() {
        for n in 0u64..10_000 {
            let slow = n >= 2 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0);
            assert_eq!(is_prime(n), slow, "{n}");
        }
    }
}
