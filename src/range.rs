//! Thresholds in the monitoring-plugin range syntax, the one Nagios, Icinga and check_postgres
//! read in perfdata: `[@]start:end`, where `start` is a number or `~` (no lower bound) and
//! defaults to 0, `end` a number or nothing (no upper bound); a bare `10` means `0:10`. The
//! threshold alerts when the value is outside the range, or inside it with `@`.
//!
//! The engine only passes thresholds on; what it must know is that a rendered threshold is
//! one a monitoring system can read, so this is the one place that decides it.

/// A rendered threshold, trimmed, or why it is not one a monitoring system can read.
pub fn threshold(rendered: &str) -> Result<String, String> {
    let text = rendered.trim();
    check(text)
        .map_err(|why| format!("{why}; expected a range such as `70`, `10:`, `~:5` or `@10:20`"))?;
    Ok(text.to_owned())
}

/// A rendered bound (a metric's `min` or `max`): a finite number.
pub fn bound(rendered: &str) -> Result<f64, String> {
    match rendered.trim().parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(number),
        _ => Err("expected a number".to_owned()),
    }
}

/// Why `text` is not a range, or `Ok` when it is.
fn check(text: &str) -> Result<(), String> {
    let body = text.strip_prefix('@').unwrap_or(text);
    if body.is_empty() {
        return Err("it is empty".to_owned());
    }
    let (start, end) = match body.split_once(':') {
        Some((start, end)) => (start, end),
        None => ("", body),
    };
    let start = match start {
        "~" => None,
        "" => Some(0.0),
        text => Some(number(text)?),
    };
    let end = match end {
        "" if body.contains(':') => None,
        text => Some(number(text)?),
    };
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        return Err(format!("its start {start} is above its end {end}"));
    }
    Ok(())
}

fn number(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() && !text.starts_with('+') => Ok(number),
        _ => Err(format!("`{text}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn the_guidelines_examples_are_ranges() {
        for range in [
            "10", "10:", "~:10", "10:20", "@10:20", "0", "-5:5", "1.5", "@~:0", "70.0", "~:",
        ] {
            assert_eq!(check(range), Ok(()), "{range}");
        }
    }

    #[test]
    fn what_a_monitoring_system_cannot_read_is_not() {
        for (text, why) in [
            ("", "it is empty"),
            ("@", "it is empty"),
            ("20:10", "its start 20 is above its end 10"),
            ("ten", "`ten` is not a number"),
            ("1:2:3", "`2:3` is not a number"),
            ("NaN", "`NaN` is not a number"),
            ("inf", "`inf` is not a number"),
            ("+5", "`+5` is not a number"),
            ("10;20", "`10;20` is not a number"),
        ] {
            assert_eq!(check(text), Err(why.to_owned()), "{text:?}");
        }
    }
}
