//! The safety number as a QR code, drawn as SVG on the server.

use qrcode::QrCode;
use qrcode::render::svg;

/// An SVG image of a QR code holding the safety number's digits, or `None` if the text is
/// too long for a QR code (a safety number never is).
pub(crate) fn safety_number_svg(safety_number: &str) -> Option<String> {
    let digits: String = safety_number.chars().filter(char::is_ascii_digit).collect();
    let code = QrCode::new(digits.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(240, 240)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_svg_image() {
        let svg = safety_number_svg("12345 67890 12345").unwrap_or_default();
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("</svg>"));
    }
}
