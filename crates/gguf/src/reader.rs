//! Parsing of the GGUF header, metadata and tensor directory, with every length checked.

use std::collections::BTreeMap;

use crate::{GgmlType, TensorInfo, Value};

const MAGIC: &[u8; 4] = b"GGUF";
/// Nested arrays deeper than this are rejected (real files use depth 1).
const MAX_ARRAY_DEPTH: usize = 4;
const MAX_DIMS: u32 = 8;

pub(crate) struct Parsed {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
}

/// A bounds-checked little-endian cursor over the file's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Version 1 files used u32 lengths; v2 and v3 use u64.
    wide: bool,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "file truncated while reading {what} at byte {} (file has {} bytes)",
                    self.pos,
                    self.bytes.len()
                )
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A length or count, which can never exceed the bytes left in the file (each element takes
    /// at least one byte).
    fn count(&mut self, what: &str) -> Result<usize, String> {
        let n = if self.wide {
            self.u64(what)?
        } else {
            u64::from(self.u32(what)?)
        };
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "{what} is {n}, more than the {left} bytes left in the file"
            ));
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let n = self.count(what)?;
        let s = self.take(n, what)?;
        // Vocabularies hold arbitrary byte strings; keep them readable rather than failing.
        Ok(String::from_utf8_lossy(s).into_owned())
    }

    fn value(&mut self, type_id: u32, key: &str, depth: usize) -> Result<Value, String> {
        let what = format!("value of {key:?}");
        Ok(match type_id {
            0 => Value::U8(self.u8(&what)?),
            1 => Value::I8(self.u8(&what)? as i8),
            2 => Value::U16(self.u16(&what)?),
            3 => Value::I16(self.u16(&what)? as i16),
            4 => Value::U32(self.u32(&what)?),
            5 => Value::I32(self.u32(&what)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(&what)?)),
            7 => Value::Bool(self.u8(&what)? != 0),
            8 => Value::String(self.string(&what)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(format!(
                        "metadata {key:?} nests arrays deeper than {MAX_ARRAY_DEPTH}"
                    ));
                }
                let elem = self.u32(&what)?;
                let n = self.count(&format!("array length of {key:?}"))?;
                let mut items = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    items.push(self.value(elem, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(&what)?),
            11 => Value::I64(self.u64(&what)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(&what)?)),
            other => return Err(format!("metadata {key:?} has unknown value type {other}")),
        })
    }
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let mut c = Cursor {
        bytes,
        pos: 0,
        wide: true,
    };
    let magic = c.take(4, "magic")?;
    if magic != MAGIC {
        return Err(format!("wrong magic {magic:02x?}, expected \"GGUF\""));
    }
    let version = c.u32("version")?;
    if !(1..=3).contains(&version) {
        return Err(format!(
            "unsupported GGUF version {version} (supported: 1, 2, 3)"
        ));
    }
    c.wide = version >= 2;
    let n_tensors = c.count("tensor count")?;
    let n_kv = c.count("metadata count")?;

    let mut metadata = BTreeMap::new();
    for i in 0..n_kv {
        let key = c.string(&format!("metadata key #{i}"))?;
        let ty = c.u32(&format!("type of {key:?}"))?;
        let value = c.value(ty, &key, 0)?;
        metadata.insert(key, value);
    }

    let alignment = match metadata.get("general.alignment") {
        None => 32,
        Some(v) => match v.as_u64() {
            Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 16 => a as usize,
            _ => return Err(format!("general.alignment {v:?} is not a power of two")),
        },
    };

    struct Raw {
        name: String,
        dims: Vec<usize>,
        ty: GgmlType,
        rel_offset: u64,
    }
    let mut raw = Vec::with_capacity(n_tensors.min(1 << 16));
    for i in 0..n_tensors {
        let name = c.string(&format!("name of tensor #{i}"))?;
        let n_dims = c.u32(&format!("rank of tensor {name:?}"))?;
        if n_dims > MAX_DIMS {
            return Err(format!(
                "tensor {name:?} has rank {n_dims}, more than {MAX_DIMS}"
            ));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            let d = if c.wide {
                c.u64("tensor dimension")?
            } else {
                u64::from(c.u32("tensor dimension")?)
            };
            dims.push(
                usize::try_from(d)
                    .map_err(|_| format!("tensor {name:?} dimension {d} too large"))?,
            );
        }
        let ty = GgmlType::from_id(c.u32(&format!("type of tensor {name:?}"))?);
        let rel_offset = c.u64(&format!("offset of tensor {name:?}"))?;
        raw.push(Raw {
            name,
            dims,
            ty,
            rel_offset,
        });
    }

    let data_start = c.pos.div_ceil(alignment) * alignment;
    let mut tensors = Vec::with_capacity(raw.len());
    for r in raw {
        let numel = r
            .dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| format!("tensor {:?} has too many elements {:?}", r.name, r.dims))?;
        // Unknown types keep a zero length: they are listed, and refused when read.
        let byte_len = match r.ty.block_layout() {
            Some((block, bytes_per_block)) => {
                if numel % block != 0 {
                    return Err(format!(
                        "tensor {:?} has {numel} elements, not a multiple of the {} block size {block}",
                        r.name, r.ty
                    ));
                }
                numel / block * bytes_per_block
            }
            None => 0,
        };
        let offset = usize::try_from(r.rel_offset)
            .ok()
            .and_then(|o| o.checked_add(data_start))
            .filter(|&o| o.checked_add(byte_len).is_some_and(|end| end <= bytes.len()))
            .ok_or_else(|| {
                format!(
                    "tensor {:?} ({} bytes at data offset {}) lies outside the file ({} bytes): file truncated?",
                    r.name,
                    byte_len,
                    r.rel_offset,
                    bytes.len()
                )
            })?;
        let mut shape = r.dims;
        shape.reverse();
        tensors.push(TensorInfo {
            name: r.name,
            shape,
            ggml_type: r.ty,
            offset,
            byte_len,
        });
    }
    Ok(Parsed {
        version,
        metadata,
        tensors,
    })
}
