//! Parameters by name: walk any burn module's float parameters by their dotted path, save them
//! to safetensors and load them back bit for bit.
//!
//! The path of a parameter is the chain of field names and `Vec` indices that reaches it, as
//! burn's derive reports them: `layers.0.self_attn.q_proj.weight`. Paths are stable across
//! runs (unlike burn's random [`ParamId`]s), so they key both saved weights and the optimizer
//! moments in [`crate::adamw`].

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::TrainError;
use crate::fs::write_atomic;

/// Tracks the dotted path of the module currently being visited.
#[derive(Default)]
pub(crate) struct PathTracker {
    parts: Vec<String>,
}

impl PathTracker {
    pub(crate) fn enter(&mut self, name: &str) {
        self.parts.push(name.to_string());
    }

    pub(crate) fn exit(&mut self) {
        self.parts.pop();
    }

    pub(crate) fn path(&self) -> String {
        self.parts.join(".")
    }
}

/// What [`for_each_param`] hands over for one parameter: its dotted path, id, shape, and a
/// function that copies its values to the host as `f32`.
type ParamCallback<'a> = dyn FnMut(String, ParamId, Vec<usize>, &dyn Fn() -> TensorData) + 'a;

/// Calls `f` for every float parameter of `module`, in visit order.
fn for_each_param<M: Module>(module: &M, f: &mut ParamCallback<'_>) {
    struct Walk<'a, 'b> {
        path: PathTracker,
        f: &'a mut ParamCallback<'b>,
    }
    impl ModuleVisitor for Walk<'_, '_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = || param.val().inner().into_data().convert::<f32>();
            (self.f)(
                self.path.path(),
                param.id,
                param.lazy_shape().to_vec(),
                &data,
            );
        }
    }
    module.visit(&mut Walk {
        path: PathTracker::default(),
        f,
    });
}

/// Returns the dotted path of every float parameter with its id and shape, in visit order.
pub fn param_paths<M: Module>(module: &M) -> Vec<(String, ParamId, Vec<usize>)> {
    let mut out = Vec::new();
    for_each_param(module, &mut |path, id, shape, _| {
        out.push((path, id, shape))
    });
    out
}

/// Copies every float parameter to the host as `f32`, keyed by its dotted path.
pub fn param_data<M: Module>(module: &M) -> BTreeMap<String, TensorData> {
    let mut out = BTreeMap::new();
    for_each_param(module, &mut |path, _, _, data| {
        out.insert(path, data());
    });
    out
}

/// Serialises `f32` tensors keyed by name to safetensors bytes.
pub(crate) fn to_safetensors(
    tensors: &BTreeMap<String, TensorData>,
    metadata: Option<std::collections::HashMap<String, String>>,
    path: &Path,
) -> Result<Vec<u8>, TrainError> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, data)| {
            let view = safetensors::tensor::TensorView::new(
                Dtype::F32,
                data.shape().to_vec(),
                data.as_bytes(),
            )
            .map_err(|e| TrainError::bad_file(path, format!("tensor {name:?}: {e}")))?;
            Ok((name.clone(), view))
        })
        .collect::<Result<_, TrainError>>()?;
    safetensors::serialize(views, metadata)
        .map_err(|e| TrainError::bad_file(path, format!("cannot serialise: {e}")))
}

/// Tensors by name, with a safetensors file's string metadata.
pub(crate) type NamedTensors = (
    BTreeMap<String, TensorData>,
    std::collections::HashMap<String, String>,
);

/// Reads every tensor of a safetensors file as `f32` [`TensorData`], with the file's metadata.
pub(crate) fn read_safetensors(path: &Path) -> Result<NamedTensors, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io("read", path, e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| TrainError::bad_file(path, format!("not a safetensors file: {e}")))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| TrainError::bad_file(path, format!("not a safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(TrainError::bad_file(
                path,
                format!("tensor {name:?} has dtype {:?}, expected F32", view.dtype()),
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.insert(
            name.to_string(),
            TensorData::new(values, view.shape().to_vec()),
        );
    }
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

/// Saves every float parameter of `module` as `f32` safetensors keyed by dotted path,
/// atomically.
pub fn save_params<M: Module>(module: &M, path: &Path) -> Result<(), TrainError> {
    let bytes = to_safetensors(&param_data(module), None, path)?;
    write_atomic(path, &bytes)
}

/// Loads parameters saved by [`save_params`] into `module`, keeping each parameter's device,
/// id and gradient setting.
///
/// Every parameter of the module must be in the file with the same shape, and the file must
/// hold nothing else; the error names the first offending tensor.
pub fn load_params<M: Module>(module: M, path: &Path) -> Result<M, TrainError> {
    let (tensors, _) = read_safetensors(path)?;
    replace_params(module, tensors, path)
}

/// Replaces every float parameter of `module` by the tensor of the same path in `tensors`.
pub(crate) fn replace_params<M: Module>(
    module: M,
    mut tensors: BTreeMap<String, TensorData>,
    source: &Path,
) -> Result<M, TrainError> {
    struct Replace {
        path: PathTracker,
        tensors: BTreeMap<String, TensorData>,
        error: Option<String>,
    }
    impl ModuleMapper for Replace {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if self.error.is_some() {
                return param;
            }
            let name = self.path.path();
            let Some(data) = self.tensors.remove(&name) else {
                self.error = Some(format!("parameter {name:?} is missing"));
                return param;
            };
            let (id, tensor, mapper) = param.consume();
            if data.shape().as_slice() != tensor.dims().as_slice() {
                self.error = Some(format!(
                    "tensor {name:?} has shape {:?}, the model expects {:?}",
                    data.shape().as_slice(),
                    tensor.dims()
                ));
                return Param::from_mapped_value(id, tensor, mapper);
            }
            let require_grad = tensor.is_require_grad();
            let mut value = Tensor::<D>::from_data(data, &tensor.device());
            if require_grad {
                value = value.require_grad();
            }
            Param::from_mapped_value(id, value, mapper)
        }
    }
    let mut mapper = Replace {
        path: PathTracker::default(),
        tensors: BTreeMap::new(),
        error: None,
    };
    std::mem::swap(&mut mapper.tensors, &mut tensors);
    let module = module.map(&mut mapper);
    if let Some(message) = mapper.error {
        return Err(TrainError::bad_file(source, message));
    }
    if let Some(extra) = mapper.tensors.keys().next() {
        return Err(TrainError::bad_file(
            source,
            format!("tensor {extra:?} is not a parameter of the model"),
        ));
    }
    Ok(module)
}
