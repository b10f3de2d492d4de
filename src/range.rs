//! Thresholds in the monitoring-plugin range syntax, the one Nagios, Icinga and check_postgres
//! read in perfdata: `[@]start:end`, where `start` is a number or `~` (no lower bound) and
//! defaults to 0, `end` a number or nothing (no upper bound); a bare `10` means `0:10`. The
//! threshold alerts when the value is outside the range, or inside it with `@`.
//!
//! The engine only passes thresholds on; what it must know is that a rendered threshold is
//! one a monitoring system can read, so this is the one place that decides it.

/// A rendered threshold in its plain spelling (`70.0` is `70`, spaces trimmed), or why it is
/// not one a monitoring system can read.
pub fn threshold(rendered: &str) -> Result<String, String> {
    plain(rendered.trim())
        .map_err(|why| format!("{why}; expected a range such as `70`, `10:`, `~:5` or `@10:20`"))
}

/// A rendered bound (a metric's `min` or `max`): a finite number.
pub fn bound(rendered: &str) -> Result<f64, String> {
    match rendered.trim().parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(number),
        _ => Err("expected a number".to_owned()),
    }
}

/// `text` as a range with its numbers spelled plainly, or why it is not a range.
fn plain(text: &str) -> Result<String, String> {
    let (inside, body) = match text.strip_prefix('@') {
        Some(body) => ("@", body),
        None => ("", text),
    };
    if body.is_empty() {
        return Err("it is empty".to_owned());
    }
    let Some((start, end)) = body.split_once(':') else {
        return Ok(format!("{inside}{}", number(body)?));
    };
    let start = match start {
        "~" => None,
        "" => Some(0.0),
        text => Some(number(text)?),
    };
    let end = match end {
        "" => None,
        text => Some(number(text)?),
    };
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        return Err(format!("its start {start} is above its end {end}"));
    }
    let start = start.map_or_else(|| "~".to_owned(), |n| n.to_string());
    let end = end.map_or_else(String::new, |n| n.to_string());
    Ok(format!("{inside}{start}:{end}"))
}

fn number(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        // Plain decimals only: monitoring systems differ on `+5` and `1e3`.
        Ok(number)
            if number.is_finite() && !text.starts_with('+') && !text.contains(['e', 'E']) =>
        {
            Ok(number)
        }
        _ => Err(format!("`{text}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::{plain, threshold};

    #[test]
    fn the_guidelines_examples_are_ranges_spelled_plainly() {
        for (range, spelled) in [
            ("10", "10"),
            ("10:", "10:"),
            ("~:10", "~:10"),
            ("10:20", "10:20"),
            ("@10:20", "@10:20"),
            ("0", "0"),
            ("-5:5", "-5:5"),
            ("1.5", "1.5"),
            ("@~:0", "@~:0"),
            ("70.0", "70"),
            ("~:", "~:"),
            (":5", "0:5"),
            ("1800.0:3600.50", "1800:3600.5"),
        ] {
            assert_eq!(plain(range), Ok(spelled.to_owned()), "{range}");
        }
        assert_eq!(threshold(" 90.0\n"), Ok("90".to_owned()));
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
            ("1e3", "`1e3` is not a number"),
        ] {
            assert_eq!(plain(text), Err(why.to_owned()), "{text:?}");
        }
    }
}
