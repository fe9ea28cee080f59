//! Human-readable rendering of results (the `--json` path prints the API types directly).

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// Prints `value` as one JSON document.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// A QR code of `text` drawn with half-block characters, or `None` if it does not fit.
pub(crate) fn qr_code(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn qr_codes_render_for_ids() {
        let qr = super::qr_code("12D3KooWExampleExampleExampleExampleExampleExample");
        let qr = qr.unwrap_or_default();
        assert!(qr.lines().count() > 10);
    }
}
