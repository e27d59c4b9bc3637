//! Number formatting shared by the model trees: PyTorch prints Python's `repr`, and parameter
//! counts read best grouped by thousands.

/// Python's `repr` of a float (`1e-05`, `0.0`, `0.1`), so a tree reads like PyTorch's.
pub fn py_float(x: f64) -> String {
    if x == 0.0 {
        return "0.0".into();
    }
    let exp = x.abs().log10().floor() as i32;
    if (-4..16).contains(&exp) {
        let s = format!("{x}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{x:e}");
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
        format!("{mantissa}e{sign}{digits:0>2}")
    }
}

/// Groups digits by thousands: `3821079552` → `3,821,079,552`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(1e-6), "1e-06");
        assert_eq!(py_float(0.0001), "0.0001");
        assert_eq!(py_float(0.5), "0.5");
        assert_eq!(py_float(2.0), "2.0");
        assert_eq!(thousands(3821079552), "3,821,079,552");
        assert_eq!(thousands(999), "999");
    }
}
