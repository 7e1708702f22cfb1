//! Config validation: every table's values checked before anything runs, each error naming its key.

use super::*;

impl Config {
    /// Reject values that cannot train: every message says which field and why.
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(|m| Error::usage(format!("invalid config `{}`: {m}", self.name)))
    }

    fn check(&self) -> std::result::Result<(), String> {
        match (&self.arch, self.stages.is_empty()) {
            (None, true) => return Err("no stages (give [[stages]] or an [arch])".into()),
            (Some(_), false) => return Err("give either [[stages]] or an [arch], not both".into()),
            (Some(a), true) => a.check(self.modules)?,
            (None, false) if self.modules != 0 => {
                return Err(format!(
                    "modules = {} applies to an [arch] network; with [[stages]] every stage is a module",
                    self.modules
                ))
            }
            (None, false) => {}
        }
        if self.batch_size == 0 {
            return Err("batch_size must be at least 1".into());
        }
        if self.epochs == 0 {
            return Err("epochs must be at least 1".into());
        }
        self.check_grad_accum()?;
        self.optimizer.check()?;
        self.augment.check()?;
        if self.checkpoint_minutes.is_nan() || self.checkpoint_minutes <= 0.0 {
            return Err("checkpoint_minutes must be positive".into());
        }
        for (j, s) in self.stages.iter().enumerate() {
            s.check(j)?;
        }
        if self.cache.train {
            let a = &self.augment;
            if a.pad != 0 || a.flip {
                return Err(format!(
                    "cache.train needs augmentation off (augment.pad = 0 and augment.flip = false, got pad {} and flip {}): augmented images change every epoch, so their features cannot be cached",
                    a.pad, a.flip
                ));
            }
        }
        if let Some(s) = &self.stream {
            s.check()?;
            if self.cache.train {
                return Err("cache.train cannot be used with [stream]: its random crops change every epoch, so their features cannot be cached".into());
            }
            if self.augment.mean.len() != 3 {
                return Err(format!(
                    "[stream] images are RGB: augment.mean and augment.std need 3 values, got {}",
                    self.augment.mean.len()
                ));
            }
        }
        if self.keep_best && self.method != Method::Greedy {
            return Err("keep_best applies to method = \"greedy\" only (the other methods train every stage to the end together)".into());
        }
        self.check_devices()?;
        match &self.dgl {
            Some(d) => d.check(self.stage_count()),
            None => Ok(()),
        }
    }

    /// `devices` splits greedy and e2e batches evenly, and names DGL's placement once.
    fn check_devices(&self) -> std::result::Result<(), String> {
        let d = self.devices.len();
        if matches!(self.method, Method::Dgl | Method::DglAsync) {
            if d > 0 && self.dgl.as_ref().is_some_and(|g| !g.devices.is_empty()) {
                return Err("give the DGL stages' devices once: `devices` or `dgl.devices`, not both".into());
            }
            return Ok(());
        }
        if d > 1 {
            let m = self.grad_accum;
            if self.batch_size % (d * m) != 0 {
                let accum = if m > 1 { format!(" and grad_accum = {m} micro-batches on each") } else { String::new() };
                return Err(format!(
                    "batch_size ({}) must split evenly over the {d} devices{accum}: a multiple of {}",
                    self.batch_size,
                    d * m
                ));
            }
            if self.cache.train {
                return Err("cache.train cannot be used with data-parallel `devices` (the cached step reads whole batches on one device): set cache.train = false".into());
            }
        }
        Ok(())
    }

    /// `grad_accum` divides the batch, and only greedy and e2e steps accumulate.
    fn check_grad_accum(&self) -> std::result::Result<(), String> {
        let m = self.grad_accum;
        if m == 0 || self.batch_size % m != 0 {
            return Err(format!(
                "grad_accum must divide batch_size ({}) into equal micro-batches, got {m}",
                self.batch_size
            ));
        }
        if m > 1 && !matches!(self.method, Method::Greedy | Method::E2e) {
            return Err("grad_accum applies to method = \"greedy\" and \"e2e\" only".into());
        }
        if m > 1 && self.arch.is_some() {
            return Err("grad_accum > 1 is not supported yet for [arch] networks (residual blocks' micro-batch passes are untested); use a smaller batch_size".into());
        }
        if m > 1 && self.cache.train {
            return Err(
                "grad_accum > 1 and cache.train cannot be combined (the cached step reads whole batches)".into()
            );
        }
        Ok(())
    }
}

impl OptimizerConfig {
    fn check(&self) -> std::result::Result<(), String> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("optimizer.lr must be a positive number, got {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(format!("optimizer.momentum must be in [0, 1), got {}", self.momentum));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!("optimizer.weight_decay must be >= 0, got {}", self.weight_decay));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0) || self.lr_step == 0 {
            return Err("optimizer.lr_decay must be > 0 and optimizer.lr_step >= 1".into());
        }
        if self.lr_milestones.contains(&0) || self.lr_milestones.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("optimizer.lr_milestones {:?} must be increasing epochs from 1", self.lr_milestones));
        }
        if self.nesterov && self.momentum == 0.0 {
            return Err("nesterov needs momentum > 0".into());
        }
        Ok(())
    }
}

impl AugmentConfig {
    fn check(&self) -> std::result::Result<(), String> {
        if self.mean.len() != self.std.len() || self.mean.is_empty() || self.mean.len() > 4 {
            return Err("augment.mean and augment.std need the same length, 1 to 4 channels".into());
        }
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err("augment.std values must be positive".into());
        }
        Ok(())
    }
}

impl StageConfig {
    /// Stage `j`'s values.
    fn check(&self, j: usize) -> std::result::Result<(), String> {
        if self.width == 0 {
            return Err(format!("stages.{j}.width must be at least 1"));
        }
        check_head(&self.head, &format!("stages.{j}.head"))
    }
}

/// The values of the head at `path`.
pub(super) fn check_head(h: &HeadConfig, path: &str) -> std::result::Result<(), String> {
    if h.kind == HeadKind::Conv && h.k == 0 {
        return Err(format!("{path}.k must be at least 1 (k = 1 is a linear head), got 0"));
    }
    Ok(())
}
