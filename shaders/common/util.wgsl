// Helpers shared by the element-wise kernels. Grid-stride loops: a dispatch of G workgroups of 256
// threads covers any element count, so no shape is baked into the dispatch or the shader.
const WG: u32 = 256u;

fn grid_stride(nwg: vec3<u32>) -> u32 {
    return nwg.x * WG;
}
