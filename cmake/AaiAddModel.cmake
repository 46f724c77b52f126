# aai_add_model(<target> <model.aai> [WEIGHTS <w.safetensors>] [PREFIX <name>]
#               [TRAIN_API] [AAIC_FLAGS <flag>...])
#
# Compiles a .aai model into an embeddable object (`aaic -c --header`) and
# wraps it in the static library <target>, which links aai::aairt and puts
# the generated header <prefix>.h (default prefix: <target>) on the include
# path. WEIGHTS bakes trained weights into the object. The object is rebuilt
# when the .aai, anything it imports, the data files it names, the weights
# or aaic change: aaic writes a depfile (-MD -MF) that add_custom_command
# reads (DEPFILE).
function(aai_add_model target model)
  cmake_parse_arguments(AAI "TRAIN_API" "WEIGHTS;PREFIX" "AAIC_FLAGS" ${ARGN})
  if(NOT AAI_PREFIX)
    set(AAI_PREFIX ${target})
  endif()
  get_filename_component(model_abs "${model}" ABSOLUTE)
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/aai_${target}")
  set(obj "${dir}/${AAI_PREFIX}.o")
  set(hdr "${dir}/include/${AAI_PREFIX}.h")
  set(dep "${dir}/${AAI_PREFIX}.d")
  set(args -c "${model_abs}" --prefix ${AAI_PREFIX} -o "${obj}" --header "${hdr}" -MD -MF "${dep}")
  set(deps "${model_abs}")
  if(AAI_WEIGHTS)
    get_filename_component(weights_abs "${AAI_WEIGHTS}" ABSOLUTE)
    list(APPEND args --weights "${weights_abs}")
    list(APPEND deps "${weights_abs}")
  endif()
  if(AAI_TRAIN_API)
    list(APPEND args --train-api)
  endif()
  file(MAKE_DIRECTORY "${dir}/include")
  add_custom_command(
    OUTPUT "${obj}" "${hdr}"
    COMMAND aai::aaic ${args} ${AAI_AAIC_FLAGS}
    DEPENDS ${deps} aai::aaic
    DEPFILE "${dep}"
    COMMENT "aaic: compiling ${model} into ${AAI_PREFIX}.o"
    VERBATIM)
  add_library(${target} STATIC "${obj}" "${hdr}")
  set_target_properties(${target} PROPERTIES LINKER_LANGUAGE C)
  target_include_directories(${target} PUBLIC "${dir}/include")
  target_link_libraries(${target} PUBLIC aai::aairt)
endfunction()
