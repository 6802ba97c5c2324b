//! Shared plumbing for packing schemes: moving tensor data to and from little-endian bytes,
//! viewing any weight as `[rows, in]`, and the checks every `pack`/`unpack` makes (finite input,
//! matching scheme tag, exact byte count).
use tch::{Kind, Tensor};

use super::{PackedTensor, SchemeTag};
use crate::{Error, Result};

/// Rows and columns of a weight viewed as `[rows, in]`: the last dimension is `in` and all
/// leading dimensions are rows (a 0-D tensor is one row of one value).
pub fn rows_cols(shape: &[i64]) -> (usize, usize) {
    let cols = shape.last().copied().unwrap_or(1).max(0) as usize;
    let numel: usize = shape.iter().map(|&d| d.max(0) as usize).product();
    let rows = numel.checked_div(cols).unwrap_or(0);
    (rows, cols)
}

/// `w` detached from autograd, as f32 on its own device, viewed as `[rows, in]`.
pub fn as_f32_rows(w: &Tensor) -> Tensor {
    let (rows, cols) = rows_cols(&w.size());
    w.detach()
        .to_kind(Kind::Float)
        .reshape([rows as i64, cols as i64])
}

/// Builds the error every quantizer returns, tagged with its scheme.
pub fn quant_error(
    scheme: &(impl std::fmt::Display + ?Sized),
    message: impl Into<String>,
) -> Error {
    Error::Quantization {
        scheme: scheme.to_string(),
        message: message.into(),
    }
}

/// Copies a tensor (any device, any float kind) into a flat f32 vector on the CPU.
pub fn to_f32_vec(scheme: &(impl std::fmt::Display + ?Sized), t: &Tensor) -> Result<Vec<f32>> {
    Vec::<f32>::try_from(&t.detach().flatten(0, -1))
        .map_err(|e| Error::torch(format!("copying a `{scheme}` tensor to the CPU"), e))
}

/// Copies a weight to the CPU as f32 values, refusing empty tensors and NaN/inf values with the
/// position of the first bad value.
pub fn finite_weight_values(
    scheme: &(impl std::fmt::Display + ?Sized),
    w: &Tensor,
) -> Result<Vec<f32>> {
    let shape = w.size();
    let values = to_f32_vec(scheme, w)?;
    if values.is_empty() {
        return Err(quant_error(
            scheme,
            format!("cannot pack an empty tensor of shape {shape:?}; fix: drop the empty layer"),
        ));
    }
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(quant_error(
            scheme,
            format!(
                "weight of shape {shape:?} holds {} at flat index {index}; fix: the model \
                 diverged, lower train.lr or enable train.grad_clip and train again",
                values[index]
            ),
        ));
    }
    Ok(values)
}

/// f32 values as little-endian bytes, 4 per value.
pub fn f32_to_le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes back to f32 values (`bytes.len()` must be a multiple of 4).
pub fn f32_from_le_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Converts a tensor to a 16-bit float `kind` (Half or BFloat16) and returns the raw bit
/// patterns as little-endian bytes, 2 per value, on the CPU.
pub fn half_bits_le_bytes(
    scheme: &(impl std::fmt::Display + ?Sized),
    t: &Tensor,
    kind: Kind,
) -> Result<Vec<u8>> {
    let bits = t
        .detach()
        .flatten(0, -1)
        .to_kind(kind)
        .contiguous()
        .f_view_dtype(Kind::Int16)
        .map_err(|e| Error::torch(format!("reading `{scheme}` 16-bit values"), e))?;
    let bits = Vec::<i16>::try_from(&bits)
        .map_err(|e| Error::torch(format!("copying `{scheme}` 16-bit values to the CPU"), e))?;
    Ok(bits.iter().flat_map(|b| b.to_le_bytes()).collect())
}

/// Inverse of [`half_bits_le_bytes`]: 16-bit float bit patterns of `kind` to an f32 CPU tensor
/// of `shape`.
pub fn half_bits_from_le_bytes(
    scheme: &(impl std::fmt::Display + ?Sized),
    bytes: &[u8],
    kind: Kind,
    shape: &[i64],
) -> Result<Tensor> {
    let bits: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    Tensor::from_slice(&bits)
        .f_view_dtype(kind)
        .and_then(|t| t.f_to_kind(Kind::Float))
        .and_then(|t| t.f_reshape(shape))
        .map_err(|e| Error::torch(format!("decoding `{scheme}` 16-bit values"), e))
}

/// Checks that `p` was packed by `tag` and holds exactly `expected_len` bytes.
pub fn check_packed(tag: &SchemeTag, p: &PackedTensor, expected_len: usize) -> Result<()> {
    if p.scheme != *tag {
        return Err(quant_error(
            tag,
            format!(
                "packed tensor was written by scheme `{}`, not `{tag}`; fix: unpack it with the \
                 quantizer named in its tag (quant::resolve_packed)",
                p.scheme
            ),
        ));
    }
    if let Some(d) = p.shape.iter().find(|&&d| d < 0) {
        return Err(quant_error(
            tag,
            format!(
                "packed shape {:?} has a negative dimension {d}; the data is corrupt",
                p.shape
            ),
        ));
    }
    if p.numel() == 0 {
        return Err(quant_error(
            tag,
            format!(
                "packed shape {:?} holds no weights; the data is corrupt",
                p.shape
            ),
        ));
    }
    if p.data.len() != expected_len {
        return Err(quant_error(
            tag,
            format!(
                "packed tensor of shape {:?} holds {} bytes, expected {expected_len}; the data \
                 is truncated or corrupt, pack the weight again",
                p.shape,
                p.data.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_cols_treats_last_dim_as_in() {
        assert_eq!(rows_cols(&[7, 33]), (7, 33));
        assert_eq!(rows_cols(&[2, 3, 4]), (6, 4));
        assert_eq!(rows_cols(&[5]), (1, 5));
        assert_eq!(rows_cols(&[]), (1, 1));
    }

    #[test]
    fn f32_bytes_round_trip() {
        let values = [1.5f32, -0.0, f32::MIN_POSITIVE, 3.25e7];
        let bytes = f32_to_le_bytes(&values);
        assert_eq!(bytes.len(), 16);
        assert_eq!(f32_from_le_bytes(&bytes), values);
    }

    #[test]
    fn half_bits_round_trip_exact_values() {
        let t = Tensor::from_slice(&[1.0f32, -2.5, 0.125, 65504.0]);
        for kind in [Kind::Half, Kind::BFloat16] {
            let bytes = half_bits_le_bytes("t", &t, kind).unwrap();
            assert_eq!(bytes.len(), 8);
            let back = half_bits_from_le_bytes("t", &bytes, kind, &[2, 2]).unwrap();
            assert!(back.equal(&t.to_kind(kind).to_kind(Kind::Float).reshape([2, 2])));
        }
    }

    #[test]
    fn non_finite_and_empty_weights_are_refused() {
        let nan = Tensor::from_slice(&[1.0f32, f32::NAN]);
        let msg = finite_weight_values("x", &nan).unwrap_err().to_string();
        assert!(msg.contains("NaN") && msg.contains("index 1"), "{msg}");
        let inf = Tensor::from_slice(&[f32::INFINITY]);
        assert!(finite_weight_values("x", &inf).is_err());
        let empty = Tensor::zeros([0, 4], (Kind::Float, tch::Device::Cpu));
        assert!(finite_weight_values("x", &empty).is_err());
    }

    #[test]
    fn check_packed_refuses_wrong_tag_and_length() {
        let p = PackedTensor {
            scheme: SchemeTag::Builtin("int8"),
            shape: vec![2, 2],
            data: vec![0; 12],
        };
        assert!(check_packed(&SchemeTag::Builtin("int8"), &p, 12).is_ok());
        assert!(check_packed(&SchemeTag::Builtin("ternary"), &p, 12)
            .unwrap_err()
            .to_string()
            .contains("int8"));
        assert!(check_packed(&SchemeTag::Builtin("int8"), &p, 13)
            .unwrap_err()
            .to_string()
            .contains("13"));
    }
}
