# Runs `nncompress run` on one backend case and compares its output_0.pb with the expected one.
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${NNC} run ${CASE}/model.onnx --input ${CASE}/test_data_set_0/input_0.pb --input ${CASE}/test_data_set_0/input_1.pb --output-dir ${OUT}
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nncompress run failed: ${err}")
endif()
execute_process(COMMAND ${CHECKER} ${OUT}/output_0.pb ${CASE}/test_data_set_0/output_0.pb RESULT_VARIABLE rc2
                OUTPUT_VARIABLE out)
if(NOT rc2 EQUAL 0)
  message(FATAL_ERROR "output differs: ${out}")
endif()
