/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The release of velum: velumd, velum and velum-cni are built together
 * and say this one number (`velumd --version`, `velum version`,
 * GET /v1/version).
 */
#ifndef VELUM_LIB_VERSION_H
#define VELUM_LIB_VERSION_H

#define VELUM_VERSION "0.4.0"

#endif
