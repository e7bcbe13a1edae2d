//! Choosing the burn device a model runs on.
//!
//! All model code is written once against burn's backend-free `Tensor<D>`; the backend is a
//! run-time choice. `cpu` (burn-flex, pure Rust, multi-threaded) is always compiled in;
//! `ndarray` and `wgpu` exist only when this crate's cargo features of the same names are on,
//! because each extra backend rebuilds the whole burn stack.
//!
//! Never use `Device::default()`: with wgpu compiled in it silently picks a slow software
//! Vulkan device on a machine without a GPU.

use std::str::FromStr;

use burn::tensor::Device;

use crate::error::ModelError;

/// A device named on the command line or in a config: `cpu`, `ndarray` or `wgpu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceSpec {
    /// burn-flex on the CPU (the default).
    #[default]
    Cpu,
    /// burn-ndarray on the CPU (cargo feature `ndarray`; deprecated upstream, f32 only).
    Ndarray,
    /// burn-wgpu on the best GPU wgpu finds (cargo feature `wgpu`; no bf16).
    Wgpu,
}

impl DeviceSpec {
    /// The names [`FromStr`] accepts.
    pub const NAMES: [&'static str; 3] = ["cpu", "ndarray", "wgpu"];

    /// Creates the device, or explains which cargo feature is missing.
    pub fn device(self) -> Result<Device, ModelError> {
        match self {
            DeviceSpec::Cpu => Ok(Device::flex()),
            DeviceSpec::Ndarray => ndarray_device(),
            DeviceSpec::Wgpu => wgpu_device(),
        }
    }

    /// The spec's name, as parsed.
    pub fn name(self) -> &'static str {
        match self {
            DeviceSpec::Cpu => "cpu",
            DeviceSpec::Ndarray => "ndarray",
            DeviceSpec::Wgpu => "wgpu",
        }
    }
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)] // burn-ndarray is deprecated upstream; it stays selectable on request.
fn ndarray_device() -> Result<Device, ModelError> {
    Ok(Device::ndarray())
}

#[cfg(not(feature = "ndarray"))]
fn ndarray_device() -> Result<Device, ModelError> {
    Err(not_compiled("ndarray"))
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, ModelError> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device, ModelError> {
    Err(not_compiled("wgpu"))
}

#[cfg_attr(all(feature = "ndarray", feature = "wgpu"), allow(dead_code))]
fn not_compiled(name: &str) -> ModelError {
    ModelError::Device {
        spec: name.into(),
        reason: format!(
            "this build has no {name} backend; rebuild with `--features reasoning-model/{name}` \
             or use `cpu`"
        ),
    }
}

impl FromStr for DeviceSpec {
    type Err = ModelError;

    /// Parses `cpu` (also `flex`), `ndarray` or `wgpu` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(DeviceSpec::Cpu),
            "ndarray" => Ok(DeviceSpec::Ndarray),
            "wgpu" | "gpu" => Ok(DeviceSpec::Wgpu),
            _ => Err(ModelError::Device {
                spec: s.into(),
                reason: format!("unknown device; expected one of {}", Self::NAMES.join(", ")),
            }),
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_and_unknown_ones_are_refused() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("WGPU".parse::<DeviceSpec>().unwrap(), DeviceSpec::Wgpu);
        assert_eq!(
            "ndarray".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Ndarray
        );
        let err = "tpu".parse::<DeviceSpec>().unwrap_err().to_string();
        assert!(
            err.contains("tpu") && err.contains("cpu, ndarray, wgpu"),
            "{err}"
        );
    }

    #[test]
    fn cpu_device_always_exists() {
        assert!(DeviceSpec::Cpu.device().is_ok());
    }

    #[cfg(not(feature = "wgpu"))]
    #[test]
    fn backend_without_its_feature_names_the_feature() {
        let err = DeviceSpec::Wgpu.device().unwrap_err().to_string();
        assert!(err.contains("--features reasoning-model/wgpu"), "{err}");
    }
}
